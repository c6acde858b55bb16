package topology

// Option changes what Load and Parse check. The zero set of options is
// what an agent needs: everything that can be judged from the file alone.
type Option func(*options)

type options struct {
	checkFiles bool
}

// CheckFiles makes Load and Parse also open every file the topology
// refers to (CA bundles, certificates, keys, keytabs, krb5.conf, nkey
// seeds and file: secrets) and report each one that cannot be read, at
// its place in the file. Paths are read on this host and relative to the
// working directory, as the agent reads them. Default: off, since a file
// is usually checked on a machine other than the agents' hosts.
func CheckFiles() Option { return func(o *options) { o.checkFiles = true } }
