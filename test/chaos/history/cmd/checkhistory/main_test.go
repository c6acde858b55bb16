package main

import (
	"testing"

	"github.com/geomesh/geomesh/test/chaos/history"
)

func TestParseMirror(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want history.Mirror
		err  bool
	}{
		{in: "us-east/orders=eu-west/orders", want: history.Mirror{Source: history.Place{Region: "us-east", Topic: "orders"}, Target: history.Place{Region: "eu-west", Topic: "orders"}}},
		{in: "a/t=b/us-east.t,quarantine=us-east.t.stranded", want: history.Mirror{Source: history.Place{Region: "a", Topic: "t"}, Target: history.Place{Region: "b", Topic: "us-east.t"}, Quarantine: "us-east.t.stranded"}},
		{in: "a/t", err: true},
		{in: "a=b/t", err: true},
		{in: "a/t=b/", err: true},
		{in: "a/t=b/t,stranded=x", err: true},
	} {
		got, err := parseMirror(tc.in)
		if (err != nil) != tc.err || (!tc.err && got != tc.want) {
			t.Errorf("parseMirror(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}
