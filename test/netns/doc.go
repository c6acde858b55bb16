// Package netns gives multi-region tests a network of their own: one
// Linux network namespace per region, joined by a bridge, with partitions
// cut by nft rules and WAN delay and loss added by relays in user space.
// It needs root (ip, nft) and touches nothing outside the namespaces it
// creates.
//
// # The network
//
//	n := netns.New(t, netns.Options{RelayUDPPorts: []int{7946}})
//	east, west, witness := n.Add("us-east"), n.Add("eu-west"), n.Add("witness")
//
// New creates a hub namespace holding a bridge; Add creates a region's
// namespace, links it to the bridge with a veth pair and gives it the next
// address of 10.213.0.0/24 (NS.Addr). That /24 exists only on the bridge,
// and the hub has no other link, so nothing reaches or leaves the machine;
// parallel runs each have a hub of their own. Names carry the test
// binary's pid and a random suffix; Cleanup deletes every namespace, rule
// and relay, even after a failed test, and New removes what runs since
// killed (no Cleanup) left behind.
//
// # Running things inside
//
// NS.Command runs a program in a namespace (ip netns exec, which execs it
// in place, so the pid and signals are the program's); NS.Prefix is the
// same command line for kafkatest.Options.CommandPrefix, which, with
// Options.Host set to NS.Addr, runs a region's Kafka cluster there. The
// test process stays in its own namespace: NS.Dial, NS.Listen and
// NS.ListenPacket open sockets inside a namespace (setns on a locked
// thread; a socket keeps the namespace it was made in), and NS.Dial fits
// kgo.Dialer and http.Transport.DialContext, so test clients reach any
// region as that region would, cuts and links included.
//
// # Partitions
//
// Each namespace has an nft table whose output chain drops packets to
// the addresses it is cut from. Cut partitions two regions both ways,
// CutOneWay one way (visible with UDP; a TCP connection needs both ways),
// Isolate cuts a region from all others (a witness cut off), Heal and
// HealAll undo. Cuts apply at once, to open connections too.
//
// # WAN delay and loss
//
// This kernel has no netem, so SetLink (one way) and WAN (both ways) put
// a Link (delay, jitter, loss) on traffic between two regions through a
// relay in the sending namespace: nft redirects the TCP connections it
// opens to the linked region to the relay, which reads the original
// destination from conntrack and copies both ways, holding each chunk for
// the link's delay, in order; a lost packet shows as a stalled chunk (a
// retransmission timeout), as TCP would show it. Datagrams to the
// Options.RelayUDPPorts (memberlist gossip) of a linked region go through
// a UDP relay that delays and drops them and carries replies back.
// Links apply to connections opened after SetLink; a link can be changed
// at any time, and cuts still hold for relayed traffic.
//
// On this project's 2-core machine a namespace costs about 40ms to create,
// and a round trip over a 60ms link takes 120-131ms.
package netns
