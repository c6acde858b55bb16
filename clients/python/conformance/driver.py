"""The conformance application for Python: a producer and a consumer group
that follow the mesh with geomesh_client, run by the conformance scenario
of the Go test suite (test/chaos/conformance_test.go), which judges what it
reports. It speaks the driver protocol that file describes: JSON lines on
stdout (batch, poll, follow, producer-stopped), commands on stdin
(stop-producer, then stop or end of input).

    driver.py --topology FILE --topic T --group G --name N

Records are ids N/<batch>-<i>, in batches of 5, each batch given 3 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
import time
from typing import Any

from geomesh_client import Consumer, FollowEvent, Follower, Producer, load_topology

_out = threading.Lock()


def emit(line: dict[str, Any]) -> None:
    line["t"] = time.time_ns() // 1000
    with _out:
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--topology", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group", required=True)
    p.add_argument("--name", required=True)
    args = p.parse_args()
    # The library's switches, at INFO, to stderr: the suite shows them when a run fails.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    mesh = load_topology(args.topology)
    # As the Go application of the suite: records in flight get 2 s, an
    # unreachable old region 1 s for the final commit, commits every 500 ms.
    producer = Producer(mesh, kafka_config={"message.timeout.ms": 2000, "topic.metadata.refresh.interval.ms": 500})
    consumer = Consumer(mesh, args.group, [args.topic], commit_timeout=1.0,
                        kafka_config={"auto.commit.interval.ms": 500})

    def on_event(ev: FollowEvent) -> None:
        emit({"e": "follow", "kind": ev.kind, "client": ev.client, "epoch": ev.epoch,
              "decision": ev.decision, "from": ev.from_, "to": ev.to,
              "took_ms": ev.took * 1000, "error": "" if ev.error is None else str(ev.error)})

    follower = Follower(mesh, [producer, consumer], interval=0.2, on_event=on_event)
    follower.start()
    halt_producer = threading.Event()
    halt = threading.Event()

    def produce() -> None:
        batch = 0
        while not halt_producer.is_set():
            results: dict[str, dict[str, Any]] = {}

            def delivered(err: Any, msg: Any) -> None:
                results[msg.value().decode()] = {"id": msg.value().decode(), "partition": msg.partition(),
                                                 "offset": msg.offset(), "acked": err is None}

            ids = [f"{args.name}/{batch}-{j}" for j in range(5)]
            before = producer.region
            sent = []
            deadline = time.monotonic() + 3
            for rid in ids:
                try:
                    producer.produce(args.topic, rid.encode(), key=rid.encode(), on_delivery=delivered,
                                     timeout=max(0.0, deadline - time.monotonic()))
                    sent.append(rid)
                except Exception as e:  # paused past the batch's time, closed, refused
                    emit({"e": "error", "what": "produce", "error": str(e)})
                    break
            while len(results) < len(sent) and time.monotonic() < deadline:
                producer.poll(0.05)
            recs = [results.get(rid, {"id": rid, "partition": -1, "offset": -1, "acked": False}) for rid in sent]
            emit({"e": "batch", "before": before, "after": producer.region, "records": recs})
            if not any(r["acked"] for r in recs):
                time.sleep(0.05)
            time.sleep(0.02)
            batch += 1
        producer.flush(5)
        emit({"e": "producer-stopped"})

    def consume() -> None:
        while not halt.is_set():
            before = consumer.region
            try:
                msgs = consumer.consume(100, 0.25)
            except Exception as e:
                emit({"e": "error", "what": "poll", "error": str(e)})
                time.sleep(0.1)
                continue
            recs = [{"topic": m.topic(), "partition": m.partition(), "offset": m.offset(), "id": m.value().decode()}
                    for m in msgs if m.error() is None]
            if recs:
                emit({"e": "poll", "before": before, "after": consumer.region, "records": recs})

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for th in threads:
        th.start()
    emit({"e": "ready"})
    for line in sys.stdin:
        cmd = line.strip()
        if cmd == "stop-producer":
            halt_producer.set()
            threads[0].join()
        elif cmd == "stop":
            break
    halt_producer.set()
    halt.set()
    for th in threads:
        th.join()
    follower.close()
    producer.close()
    consumer.close()
    emit({"e": "stopped"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
