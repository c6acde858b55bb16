package main

import (
	"strings"
	"testing"
)

func TestTranslateNeedsAFlow(t *testing.T) {
	_, _, err := run(t, "translate", "--topology", "../../configs/examples/active-passive.yaml", "--group", "g", "--from", "eu-west", "--to", "us-east")
	if err == nil || !strings.Contains(err.Error(), "copies nothing from eu-west to us-east (flows: [us-east->eu-west])") {
		t.Fatalf("want an error naming the flows, got %v", err)
	}
}

func TestTranslateRequiresFlags(t *testing.T) {
	_, _, err := run(t, "translate", "--topology", "../../configs/examples/active-passive.yaml", "--from", "us-east")
	if err == nil || !strings.Contains(err.Error(), `"group"`) || !strings.Contains(err.Error(), `"to"`) {
		t.Fatalf("want an error naming the missing flags, got %v", err)
	}
}
