package membership

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrNotEncrypted is returned by key operations on a pool without
// SecretKeys: a keyring cannot be added to a running memberlist, so
// encryption is turned on by a rolling restart with SecretKeys set.
var ErrNotEncrypted = errors.New("gossip is not encrypted: start the agents with a gossip key first")

// KeyID names a gossip key without revealing it: the first 8 bytes of its
// SHA-256, in hex. Status output, logs and errors use it.
func KeyID(key []byte) string {
	sum := sha256.Sum256(key)
	return hex.EncodeToString(sum[:8])
}

// Keys lists the ids of the keys this node accepts, and the id of the key
// it encrypts with.
func (m *Membership) Keys() (ids []string, primary string, err error) {
	kr := m.keyring.Load()
	if kr == nil {
		return nil, "", ErrNotEncrypted
	}
	for _, k := range kr.GetKeys() {
		ids = append(ids, KeyID(k))
	}
	return ids, KeyID(kr.GetPrimaryKey()), nil
}

// InstallKey adds a key this node accepts, without encrypting with it.
// Rotation across a pool without a member flapping is: InstallKey on
// every node, then UseKey on every node, then RemoveKey of the old key on
// every node. Each node then always holds the key every other node
// encrypts with, so no probe fails to decrypt.
func (m *Membership) InstallKey(key []byte) error {
	kr := m.keyring.Load()
	if kr == nil {
		return ErrNotEncrypted
	}
	if err := kr.AddKey(key); err != nil {
		return fmt.Errorf("membership: install key %s: %w", KeyID(key), err)
	}
	return nil
}

// UseKey makes an installed key the one this node encrypts with.
func (m *Membership) UseKey(key []byte) error {
	kr := m.keyring.Load()
	if kr == nil {
		return ErrNotEncrypted
	}
	if err := kr.UseKey(key); err != nil {
		return fmt.Errorf("membership: use key %s: %w", KeyID(key), err)
	}
	return nil
}

// RemoveKey drops a key this node no longer accepts; the key in use
// cannot be removed.
func (m *Membership) RemoveKey(key []byte) error {
	kr := m.keyring.Load()
	if kr == nil {
		return ErrNotEncrypted
	}
	if err := kr.RemoveKey(key); err != nil {
		return fmt.Errorf("membership: remove key %s: %w", KeyID(key), err)
	}
	return nil
}
