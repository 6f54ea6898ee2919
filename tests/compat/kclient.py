#!/usr/bin/env python3
"""One command-line driver over three Python Kafka clients, for Rill's compatibility tests.

    python kclient.py --client {kafka-python,confluent,aiokafka} --bootstrap HOST:PORT COMMAND ...

Every client answers the same commands with the same JSON lines on stdout, so a test can produce
with one client and consume with another and compare bytes. Byte strings (keys, values, header
values) travel as lowercase hex, null as JSON null; header names are strings. Commands:

  create-topic --topic T --partitions N
      creates T through the client's admin API; prints {"topic": T, "partitions": N}.
  list-topics [--topic T ...]
      prints {"topic": T, "partitions": [0, 1, ...]} per topic (only the named ones, if given).
  produce --topic T [--compression none|gzip|snappy|lz4|zstd] [--acks all|1|0]
          [--idempotence default|on|off] [--max-request-size BYTES] [--linger-ms MS]
          [--delivery-timeout-ms MS]
      reads records as JSON lines on stdin:
        {"key": hex|null, "value": hex|null, "headers": [[name, hex|null], ...],
         "timestamp": ms|null, "partition": int|null}
      keyed records without "partition" go through the client's own partitioner. Prints one
      {"partition", "offset", "timestamp"} line per record, in input order.
  consume --topic T [--partitions P,..] [--start P:OFFSET ...] [--start-time MS] [--count N]
          [--seek P:OFFSET ... --recount M]
      assigns the partitions by hand (no consumer group) from the beginning, or from --start /
      the offset --start-time resolves to, and prints
        {"phase": 0, "partition", "offset", "key", "value", "headers", "timestamp", "timestamp_type"}
      per record until --count records arrived or, without --count, until every partition
      reached the end offset it had when consuming began. With --seek, it then seeks those
      partitions and prints --recount more records as phase 1.
  list-offsets --topic T --spec earliest|latest|max-timestamp|<ms> [--partitions P,..]
      prints {"partition", "offset", "timestamp"} per partition; offset null when no record
      has a timestamp at or after <ms>. max-timestamp is confluent only (admin ListOffsets v7).

  group-consume --group G --topic T [--topic T2 ...] [--client-id ID] [--instance-id ID]
          [--assignment-strategy range|roundrobin|sticky|cooperative-sticky]
          [--session-timeout-ms MS] [--heartbeat-interval-ms MS] [--max-poll-interval-ms MS]
          [--commit batch|auto|none] [--max-poll-records N] [--limit [P:]OFFSET ...]
          [--commit-cap [P:]OFFSET ...] [--max-seconds S] [--debug CONTEXTS]
      a long-running group member: subscribes to the topics in group G (from the earliest offset
      when the group has none committed) and prints one JSON line per event, flushed at once:
        {"event": "assigned"|"revoked"|"lost", "partitions": [[T, P], ...],
         "assignment": [[T, P], ...], "incremental": bool, "member_id": str|null,
         "generation": int|null}      (rebalance callbacks; "assignment" is what the member
                                        owns afterwards; generation where the client shows it)
        {"event": "record", "topic", "partition", "offset", "key": hex|null, "value": hex|null}
        {"event": "committed", "offsets": [[T, P, OFFSET], ...]}   (a commit that succeeded)
        {"event": "commit_failed", "error": KIND, "detail": text}
        {"event": "error", "error": KIND, "detail": text}          (a non-fatal client error)
        {"event": "closed", "reason": "stdin"|"max-seconds"}        (after the consumer closed)
      --commit batch (the default) commits synchronously, after each poll batch, the offsets
      after the records that batch printed; auto leaves it to the client's auto-commit (and
      its commit on close); none never commits. --limit stops a partition (all of them without
      "P:") at OFFSET: records at or past it are not printed, not committed, and the partition
      is paused. --commit-cap never commits past OFFSET (all partitions without "P:") while
      reading on: records read but not committed, which a successor must read again. Runs
      until stdin closes or --max-seconds (default 120) pass, then closes the
      consumer (a dynamic member leaves the group; a static one, --instance-id, does not). A
      SIGKILL leaves no trace but the lines already printed. --debug sets librdkafka's debug
      contexts (confluent; logs on stderr); use --log-level DEBUG for the Python clients.
  describe-groups --group G [--group G2 ...]        (confluent, kafka-python)
      prints {"group", "state", "protocol_type", "protocol", "group_error": KIND|null,
      "members": [{"member_id", "client_id", "host", "instance_id", "assignment": [[T, P], ...]}]}
      per group; state is Kafka's name (Stable, Empty, PreparingRebalance,
      CompletingRebalance, Dead) or Unknown.
  list-groups                                       (confluent, kafka-python)
      prints {"group", "state": name|null, "protocol_type": str|null} per group.
  group-offsets --group G                           (confluent, kafka-python)
      prints {"topic", "partition", "offset", "metadata"} per committed offset of G.
  delete-groups --group G [--group G2 ...]          (confluent, kafka-python)
      prints {"group", "group_error": null|KIND} per group, KIND the Kafka error name
      (NON_EMPTY_GROUP, GROUP_ID_NOT_FOUND, ...).

Every command takes --timeout SECONDS (default 30) for its whole run (group-consume: as the
client's request timeout; its run length is --max-seconds). A failure prints one line
{"error": KIND, "detail": text, "elapsed_ms": ms} on stdout and exits with status 1. KIND is
UNKNOWN_TOPIC_OR_PARTITION when the client reported the topic unknown, TIMEOUT when the deadline
passed, else the client's own error name.
"""

import argparse
import asyncio
import importlib
import json
import logging
import sys
import threading
import time

try:
    import aiokafka
    import aiokafka.admin
    import aiokafka.errors
    import confluent_kafka
    import confluent_kafka.admin
    import kafka
    import kafka.admin
    import kafka.errors
    import kafka.structs
except ImportError as e:  # pragma: no cover - environment problem, reported plainly
    print(json.dumps({"error": "MISSING_MODULE",
                      "detail": f"{e}; run scripts/test (it installs tests/compat/requirements.txt "
                                f"into its virtualenv) or set RILL_TEST_PYTHON to that venv's python",
                      "elapsed_ms": 0}))
    sys.exit(1)

UNKNOWN_TOPIC = "UNKNOWN_TOPIC_OR_PARTITION"
START = time.monotonic()


class Failure(Exception):
    """A command failure to report as one JSON error line."""

    def __init__(self, kind, detail):
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


def out(obj):
    sys.stdout.write(json.dumps(obj, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def unhex(s):
    return None if s is None else bytes.fromhex(s)


def enhex(b):
    return None if b is None else bytes(b).hex()


class Deadline:
    def __init__(self, seconds):
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end

    def check(self, what):
        if self.expired():
            raise Failure("TIMEOUT", f"{what} did not finish within {self.seconds}s")


def read_input_records():
    records = []
    for n, line in enumerate(sys.stdin):
        line = line.strip()
        if not line:
            continue
        try:
            r = json.loads(line)
            records.append({
                "key": unhex(r.get("key")),
                "value": unhex(r.get("value")),
                "headers": [(name, unhex(v)) for name, v in (r.get("headers") or [])],
                "timestamp": r.get("timestamp"),
                "partition": r.get("partition"),
            })
        except (ValueError, TypeError) as e:
            raise Failure("BAD_INPUT", f"stdin line {n + 1}: {e}")
    return records


def record_line(phase, partition, offset, key, value, headers, timestamp, timestamp_type):
    return {
        "phase": phase,
        "partition": partition,
        "offset": offset,
        "key": enhex(key),
        "value": enhex(value),
        "headers": [[name, enhex(v)] for name, v in (headers or [])],
        "timestamp": timestamp,
        "timestamp_type": timestamp_type,
    }


class ConsumePlan:
    """Which partitions to read from where, and when to stop; shared by all clients."""

    def __init__(self, args, partitions):
        self.partitions = sorted(partitions)
        self.start = dict(args.start or [])
        self.start_time = args.start_time
        self.count = args.count
        self.seek = dict(args.seek or [])
        self.recount = args.recount
        self.phase = 0
        self.printed = 0
        self.ends = None  # partition -> end offset, when reading to the end
        self.positions = {}

    def begin(self, ends):
        """`ends`: end offsets at start, used when no --count was given."""
        self.ends = ends

    def emit(self, line):
        if self.done():
            return
        out(line)
        self.printed += 1
        self.positions[line["partition"]] = line["offset"] + 1

    def done(self):
        if self.phase == 0 and self.count is None:
            return all(self.positions.get(p, self.start_pos(p)) >= self.ends[p] for p in self.partitions)
        limit = self.count if self.phase == 0 else self.recount
        return self.printed >= limit

    def start_pos(self, p):
        return self.start.get(p, 0)

    def next_phase(self):
        """True if a seek phase follows."""
        if self.phase == 0 and self.seek:
            self.phase = 1
            self.printed = 0
            return True
        return False


class GroupRun:
    """One `group-consume` run, shared by all clients: when to stop, the member's current
    assignment, the per-partition limits, and the event lines."""

    def __init__(self, args):
        self.args = args
        self.incremental = args.assignment_strategy == "cooperative-sticky"
        self.assignment = set()
        self.limits = dict(args.limit or [])
        self.caps = dict(args.commit_cap or [])
        self.stop_reason = None
        self.stdin_closed = threading.Event()
        self.end = time.monotonic() + args.max_seconds
        threading.Thread(target=self._watch_stdin, daemon=True).start()

    def _watch_stdin(self):
        # Lines are ignored; end of input is the signal to leave.
        while sys.stdin.buffer.read(65536):
            pass
        self.stdin_closed.set()

    def running(self):
        if self.stdin_closed.is_set():
            self.stop_reason = "stdin"
        elif time.monotonic() >= self.end:
            self.stop_reason = "max-seconds"
        return self.stop_reason is None

    def rebalance(self, kind, partitions, member_id=None, generation=None):
        tps = set(partitions)
        if kind == "assigned":
            self.assignment = (self.assignment | tps) if self.incremental else tps
        else:
            self.assignment -= tps
        out({"event": kind, "partitions": sorted([t, p] for t, p in tps),
             "assignment": sorted([t, p] for t, p in self.assignment), "incremental": self.incremental,
             "member_id": member_id or None, "generation": generation})

    def limit(self, partition):
        # A `None` key holds the offset given for all partitions.
        return self.limits.get(partition, self.limits.get(None))

    def commit_offset(self, partition, offset):
        """The offset to commit after reading up to `offset`: never past --commit-cap."""
        cap = self.caps.get(partition, self.caps.get(None))
        return offset if cap is None else min(offset, cap)

    def record(self, topic, partition, offset, key, value):
        """Prints a record unless it is at or past its partition's limit; returns whether it did."""
        limit = self.limit(partition)
        if limit is not None and offset >= limit:
            return False
        out({"event": "record", "topic": topic, "partition": partition, "offset": offset,
             "key": enhex(key), "value": enhex(value)})
        return True

    def committed(self, offsets):
        out({"event": "committed", "offsets": sorted([t, p, o] for t, p, o in offsets)})

    def commit_failed(self, kind, detail):
        out({"event": "commit_failed", "error": kind, "detail": detail})

    def error(self, kind, detail):
        out({"event": "error", "error": kind, "detail": detail})

    def closed(self):
        out({"event": "closed", "reason": self.stop_reason})


def load(spec):
    """The object `module:name` names."""
    module, _, name = spec.partition(":")
    return getattr(importlib.import_module(module), name)


def kafka_error_name(error):
    """kafka-python's error string ("[Error 69] GroupIdNotFoundError: ...") as Kafka's name."""
    if not error:
        return None
    for name in dir(kafka.errors):
        cls = getattr(kafka.errors, name)
        if isinstance(cls, type) and issubclass(cls, kafka.errors.BrokerResponseError) and f" {name}" in error:
            return cls.message
    return error


GROUP_STATES = {s.lower().replace("_", ""): s for s in
                ["Stable", "Empty", "PreparingRebalance", "CompletingRebalance", "Dead", "Unknown"]}


def group_state(name):
    """Kafka's spelling of a group state, from any client's ("PREPARING_REBALANCING", ...)."""
    if name is None:
        return None
    key = str(name).lower().replace("_", "").replace("rebalancing", "rebalance")
    return GROUP_STATES.get(key, str(name))


# ---------------------------------------------------------------------------------------------
# kafka-python


class KafkaPythonDriver:
    def __init__(self, args):
        self.args = args
        self.bootstrap = args.bootstrap
        self.unknown_topics = set()
        logging.getLogger("kafka.cluster").addHandler(_UnknownTopicLog(self.unknown_topics))

    def common(self):
        return {
            "bootstrap_servers": self.bootstrap,
            "request_timeout_ms": max(1000, int(self.args.timeout * 1000)),
        }

    def create_topic(self, topic, partitions):
        admin = kafka.admin.KafkaAdminClient(**self.common())
        try:
            admin.create_topics([kafka.admin.NewTopic(topic, partitions, 1)])
        finally:
            admin.close()

    def list_topics(self, topics):
        consumer = kafka.KafkaConsumer(group_id=None, **self.common())
        try:
            names = consumer.topics()
            result = []
            for t in sorted(names):
                if topics and t not in topics:
                    continue
                result.append((t, sorted(consumer.partitions_for_topic(t) or [])))
            return result
        finally:
            consumer.close()

    def produce(self, topic, records, opts, deadline):
        config = dict(self.common())
        config.update({
            "acks": opts.acks if opts.acks == "all" else int(opts.acks),
            "compression_type": None if opts.compression == "none" else opts.compression,
            "max_request_size": opts.max_request_size,
            "linger_ms": opts.linger_ms,
            "max_block_ms": min(int(deadline.left() * 1000), opts.delivery_timeout_ms),
            "delivery_timeout_ms": opts.delivery_timeout_ms,
            "request_timeout_ms": max(1, min(opts.delivery_timeout_ms // 2, 30000)),
        })
        if opts.idempotence != "default":
            config["enable_idempotence"] = opts.idempotence == "on"
        try:
            producer = kafka.KafkaProducer(**config)
        except kafka.errors.KafkaError as e:
            raise self.failure(e, topic)
        try:
            futures = []
            for r in records:
                futures.append(producer.send(
                    topic, value=r["value"], key=r["key"], headers=r["headers"],
                    partition=r["partition"], timestamp_ms=r["timestamp"]))
            producer.flush(timeout=deadline.left())
            results = []
            for f in futures:
                md = f.get(timeout=deadline.left())
                results.append((md.partition, md.offset, md.timestamp))
            return results
        except kafka.errors.KafkaError as e:
            raise self.failure(e, topic)
        finally:
            producer.close(timeout=5)

    def failure(self, e, topic):
        if isinstance(e, kafka.errors.UnknownTopicOrPartitionError):
            return Failure(UNKNOWN_TOPIC, repr(e))
        # The producer only says "Failed to update metadata" on its deadline; the Metadata
        # responses' UNKNOWN_TOPIC_OR_PARTITION for the topic are seen in its log.
        if isinstance(e, kafka.errors.KafkaTimeoutError) and topic in self.unknown_topics:
            return Failure(UNKNOWN_TOPIC, f"{e!r} after metadata answered UNKNOWN_TOPIC_OR_PARTITION for {topic}")
        return Failure(type(e).__name__, repr(e))

    def consumer(self):
        return kafka.KafkaConsumer(group_id=None, enable_auto_commit=False,
                                   auto_offset_reset="earliest", **self.common())

    def partitions_of(self, consumer, topic, deadline):
        while True:
            parts = consumer.partitions_for_topic(topic)
            if parts:
                return parts
            deadline.check(f"metadata for {topic}")
            consumer.poll(timeout_ms=100)

    def consume(self, topic, args, deadline):
        consumer = self.consumer()
        try:
            parts = args.partitions or self.partitions_of(consumer, topic, deadline)
            plan = ConsumePlan(args, parts)
            tps = [kafka.TopicPartition(topic, p) for p in plan.partitions]
            consumer.assign(tps)
            ends = consumer.end_offsets(tps)
            plan.begin({tp.partition: off for tp, off in ends.items()})
            if plan.start_time is not None:
                found = consumer.offsets_for_times({tp: plan.start_time for tp in tps})
                for tp in tps:
                    o = found.get(tp)
                    plan.start[tp.partition] = o.offset if o is not None else ends[tp]
            for tp in tps:
                consumer.seek(tp, plan.start_pos(tp.partition))
            while True:
                while not plan.done():
                    deadline.check(f"consuming {topic} (phase {plan.phase}, {plan.printed} records)")
                    batches = consumer.poll(timeout_ms=200, update_offsets=True)
                    for tp in sorted(batches, key=lambda t: t.partition):
                        for m in batches[tp]:
                            plan.emit(record_line(plan.phase, m.partition, m.offset, m.key, m.value,
                                                  m.headers, m.timestamp,
                                                  "create" if m.timestamp_type == 0 else "log_append"))
                if not plan.next_phase():
                    return
                for p, o in plan.seek.items():
                    consumer.seek(kafka.TopicPartition(topic, p), o)
        finally:
            consumer.close()

    def list_offsets(self, topic, spec, partitions, deadline):
        consumer = self.consumer()
        try:
            parts = partitions or self.partitions_of(consumer, topic, deadline)
            tps = [kafka.TopicPartition(topic, p) for p in sorted(parts)]
            if spec == "earliest":
                return [(tp.partition, o, None) for tp, o in sorted(consumer.beginning_offsets(tps).items())]
            if spec == "latest":
                return [(tp.partition, o, None) for tp, o in sorted(consumer.end_offsets(tps).items())]
            found = consumer.offsets_for_times({tp: int(spec) for tp in tps})
            return [(tp.partition, None if o is None else o.offset, None if o is None else o.timestamp)
                    for tp, o in sorted(found.items())]
        finally:
            consumer.close()

    # -- groups

    ASSIGNORS = {
        "range": "kafka.coordinator.assignors.range:RangePartitionAssignor",
        "roundrobin": "kafka.coordinator.assignors.roundrobin:RoundRobinPartitionAssignor",
        "sticky": "kafka.coordinator.assignors.sticky.sticky_assignor:StickyPartitionAssignor",
        "cooperative-sticky": "kafka.coordinator.assignors.cooperative_sticky:CooperativeStickyAssignor",
    }

    def group_consume(self, args, run):
        config = dict(self.common())
        config.update({
            "group_id": args.group,
            "client_id": args.client_id,
            "session_timeout_ms": args.session_timeout_ms,
            "heartbeat_interval_ms": args.heartbeat_interval_ms,
            "max_poll_interval_ms": args.max_poll_interval_ms,
            "enable_auto_commit": args.commit == "auto",
            "auto_offset_reset": "earliest",
            "max_poll_records": args.max_poll_records,
        })
        if args.assignment_strategy:
            config["partition_assignment_strategy"] = (load(self.ASSIGNORS[args.assignment_strategy]),)
        if args.instance_id:
            config["group_instance_id"] = args.instance_id
        consumer = kafka.KafkaConsumer(**config)

        def report(kind, partitions):
            meta = consumer.group_metadata()
            run.rebalance(kind, [(tp.topic, tp.partition) for tp in partitions], meta.member_id,
                          meta.generation_id)

        class Listener(kafka.ConsumerRebalanceListener):
            def on_partitions_revoked(self, revoked):
                report("revoked", revoked)

            def on_partitions_assigned(self, assigned):
                report("assigned", assigned)

            def on_partitions_lost(self, lost):
                report("lost", lost)

        try:
            consumer.subscribe(topics=args.topic, listener=Listener())
            while run.running():
                batches = consumer.poll(timeout_ms=200, max_records=args.max_poll_records)
                done = {}
                for tp in sorted(batches):
                    for m in batches[tp]:
                        if run.record(m.topic, m.partition, m.offset, m.key, m.value):
                            done[tp] = run.commit_offset(m.partition, m.offset + 1)
                        else:
                            consumer.pause(tp)
                            break
                if done and args.commit == "batch":
                    offsets = {tp: kafka.structs.OffsetAndMetadata(o, "", -1) for tp, o in done.items()}
                    try:
                        consumer.commit(offsets)
                        run.committed((tp.topic, tp.partition, o) for tp, o in done.items())
                    except kafka.errors.KafkaError as e:
                        run.commit_failed(type(e).__name__, repr(e))
        finally:
            consumer.close()
        run.closed()

    def admin(self):
        return kafka.admin.KafkaAdminClient(**self.common())

    def describe_groups(self, groups):
        admin = self.admin()
        try:
            found = admin.describe_groups(groups)
        finally:
            admin.close()
        result = []
        for g in groups:
            d = found[g]
            members = []
            for m in d.get("members") or []:
                # Decoded by the admin client into {"assigned_partitions": [{"topic", "partitions"}]}.
                assignment = m.get("member_assignment") or {}
                tps = [[t["topic"], p] for t in assignment.get("assigned_partitions", []) for p in t["partitions"]]
                members.append({"member_id": m["member_id"], "client_id": m["client_id"],
                                "host": m["client_host"], "instance_id": m.get("group_instance_id"),
                                "assignment": sorted(tps)})
            result.append({"group": g, "state": group_state(d.get("group_state")),
                           "protocol_type": d.get("protocol_type"), "protocol": d.get("protocol_data"),
                           "group_error": kafka_error_name(d.get("error")), "members": members})
        return result

    def list_groups(self):
        admin = self.admin()
        try:
            return [{"group": g["group_id"], "state": group_state(g.get("group_state")),
                     "protocol_type": g.get("protocol_type")} for g in admin.list_groups()]
        finally:
            admin.close()

    def group_offsets(self, group):
        admin = self.admin()
        try:
            found = admin.list_group_offsets(group)[group]
        finally:
            admin.close()
        return [{"topic": tp.topic, "partition": tp.partition, "offset": om.offset, "metadata": om.metadata}
                for tp, om in sorted(found.items())]

    def delete_groups(self, groups):
        admin = self.admin()
        try:
            found = admin.delete_groups(groups)
        finally:
            admin.close()
        return [{"group": g, "group_error": None if found[g] == "OK" else getattr(kafka.errors, found[g]).message}
                for g in groups]


class _UnknownTopicLog(logging.Handler):
    """Collects the topics kafka-python's metadata logs as "not found in cluster metadata"."""

    def __init__(self, sink):
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record):
        if record.msg == "Topic %s not found in cluster metadata" and record.args:
            self.sink.add(record.args[0])


# ---------------------------------------------------------------------------------------------
# confluent-kafka (librdkafka)


class ConfluentDriver:
    def __init__(self, args):
        self.args = args
        self.bootstrap = args.bootstrap

    def common(self):
        return {"bootstrap.servers": self.bootstrap, "socket.timeout.ms": max(1000, int(self.args.timeout * 1000))}

    def admin(self):
        return confluent_kafka.admin.AdminClient(self.common())

    def create_topic(self, topic, partitions):
        admin = self.admin()
        futures = admin.create_topics([confluent_kafka.admin.NewTopic(topic, partitions, 1)],
                                             request_timeout=self.args.timeout)
        try:
            futures[topic].result(timeout=self.args.timeout)
        except confluent_kafka.KafkaException as e:
            raise self.failure(e.args[0])

    def list_topics(self, topics):
        md = self.admin().list_topics(timeout=self.args.timeout)
        return [(t, sorted(md.topics[t].partitions)) for t in sorted(md.topics)
                if not topics or t in topics]

    def failure(self, err):
        if err.code() in (confluent_kafka.KafkaError._UNKNOWN_TOPIC, confluent_kafka.KafkaError.UNKNOWN_TOPIC_OR_PART):
            return Failure(UNKNOWN_TOPIC, str(err))
        if err.code() == confluent_kafka.KafkaError._TIMED_OUT:
            return Failure("TIMEOUT", str(err))
        return Failure(err.name(), str(err))

    def produce(self, topic, records, opts, deadline):
        config = dict(self.common())
        config.update({
            "acks": opts.acks,
            "compression.type": opts.compression,
            "message.max.bytes": opts.max_request_size,
            "linger.ms": opts.linger_ms,
            "message.timeout.ms": opts.delivery_timeout_ms,
            # Fail records for a topic the broker says does not exist after 1 s, not 30 s.
            "topic.metadata.propagation.max.ms": 1000,
        })
        if opts.idempotence != "default":
            config["enable.idempotence"] = opts.idempotence == "on"
        errors = []
        try:
            producer = confluent_kafka.Producer(config)
        except confluent_kafka.KafkaException as e:
            raise self.failure(e.args[0])
        results = [None] * len(records)

        def report(i):
            def on_delivery(err, msg):
                if err is not None:
                    errors.append(err)
                else:
                    results[i] = (msg.partition(), msg.offset(), msg.timestamp()[1])
            return on_delivery

        for i, r in enumerate(records):
            kwargs = {"value": r["value"], "key": r["key"], "headers": r["headers"], "on_delivery": report(i)}
            if r["partition"] is not None:
                kwargs["partition"] = r["partition"]
            if r["timestamp"] is not None:
                kwargs["timestamp"] = r["timestamp"]
            while True:
                try:
                    producer.produce(topic, **kwargs)
                    break
                except BufferError:
                    deadline.check("producing (local queue full)")
                    producer.poll(0.1)
                except confluent_kafka.KafkaException as e:
                    raise self.failure(e.args[0])
        while producer.flush(min(1.0, deadline.left())) > 0:
            deadline.check(f"delivering {len(records)} records")
        if errors:
            raise self.failure(errors[0])
        return results

    def consumer(self):
        config = dict(self.common())
        config.update({
            # The client requires a group.id; with assign() and no commits it stays unused.
            "group.id": "rill-compat-unused",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
        })
        return confluent_kafka.Consumer(config)

    def partitions_of(self, consumer, topic, deadline):
        while True:
            md = consumer.list_topics(topic, timeout=max(0.1, deadline.left()))
            t = md.topics.get(topic)
            if t is not None and t.error is None and t.partitions:
                return sorted(t.partitions)
            deadline.check(f"metadata for {topic}")

    def consume(self, topic, args, deadline):
        consumer = self.consumer()
        try:
            parts = args.partitions or self.partitions_of(consumer, topic, deadline)
            plan = ConsumePlan(args, parts)
            ends = {}
            for p in plan.partitions:
                _, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                                         timeout=deadline.left())
                ends[p] = high
            plan.begin(ends)
            if plan.start_time is not None:
                query = [confluent_kafka.TopicPartition(topic, p, plan.start_time) for p in plan.partitions]
                for tp in consumer.offsets_for_times(query, timeout=deadline.left()):
                    plan.start[tp.partition] = tp.offset if tp.offset >= 0 else ends[tp.partition]
            consumer.assign([confluent_kafka.TopicPartition(topic, p, plan.start_pos(p)) for p in plan.partitions])
            while True:
                while not plan.done():
                    deadline.check(f"consuming {topic} (phase {plan.phase}, {plan.printed} records)")
                    for m in consumer.consume(num_messages=500, timeout=0.2):
                        if m.error() is not None:
                            if m.error().code() == confluent_kafka.KafkaError._PARTITION_EOF:
                                continue
                            raise self.failure(m.error())
                        ts_type, ts = m.timestamp()
                        kind = {confluent_kafka.TIMESTAMP_CREATE_TIME: "create",
                                confluent_kafka.TIMESTAMP_LOG_APPEND_TIME: "log_append"}.get(ts_type)
                        plan.emit(record_line(plan.phase, m.partition(), m.offset(), m.key(), m.value(),
                                              m.headers(), ts if kind else None, kind))
                if not plan.next_phase():
                    return
                for p, o in plan.seek.items():
                    consumer.seek(confluent_kafka.TopicPartition(topic, p, o))
        finally:
            consumer.close()

    def list_offsets(self, topic, spec, partitions, deadline):
        if spec == "max-timestamp":
            return self.list_offsets_admin(topic, partitions, deadline)
        consumer = self.consumer()
        try:
            parts = sorted(partitions or self.partitions_of(consumer, topic, deadline))
            if spec in ("earliest", "latest"):
                result = []
                for p in parts:
                    low, high = consumer.get_watermark_offsets(confluent_kafka.TopicPartition(topic, p),
                                                               timeout=deadline.left())
                    result.append((p, low if spec == "earliest" else high, None))
                return result
            query = [confluent_kafka.TopicPartition(topic, p, int(spec)) for p in parts]
            found = consumer.offsets_for_times(query, timeout=deadline.left())
            return [(tp.partition, tp.offset if tp.offset >= 0 else None, None)
                    for tp in sorted(found, key=lambda t: t.partition)]
        finally:
            consumer.close()

    def list_offsets_admin(self, topic, partitions, deadline):
        admin = self.admin()
        parts = sorted(partitions or self.list_partitions(admin, topic))
        spec = confluent_kafka.admin.OffsetSpec.max_timestamp()
        futures = admin.list_offsets({confluent_kafka.TopicPartition(topic, p): spec for p in parts},
                                     request_timeout=deadline.left())
        result = []
        for tp, f in sorted(futures.items(), key=lambda kv: kv[0].partition):
            info = f.result(timeout=deadline.left())
            result.append((tp.partition, info.offset if info.offset >= 0 else None,
                           info.timestamp if info.timestamp >= 0 else None))
        return result

    def list_partitions(self, admin, topic):
        return list(admin.list_topics(topic, timeout=self.args.timeout).topics[topic].partitions)

    # -- groups

    def group_consume(self, args, run):
        config = dict(self.common())
        config.update({
            "group.id": args.group,
            "client.id": args.client_id,
            "session.timeout.ms": args.session_timeout_ms,
            "heartbeat.interval.ms": args.heartbeat_interval_ms,
            "max.poll.interval.ms": args.max_poll_interval_ms,
            "enable.auto.commit": args.commit == "auto",
            "auto.offset.reset": "earliest",
        })
        if args.assignment_strategy:
            config["partition.assignment.strategy"] = args.assignment_strategy
        if args.instance_id:
            config["group.instance.id"] = args.instance_id
        if args.debug:
            config["debug"] = args.debug
        consumer = confluent_kafka.Consumer(config)

        def callback(kind):
            # Without an assign() of its own, confluent-kafka applies the change after the callback.
            return lambda c, partitions: run.rebalance(kind, [(tp.topic, tp.partition) for tp in partitions],
                                                        c.memberid())

        try:
            consumer.subscribe(args.topic, on_assign=callback("assigned"), on_revoke=callback("revoked"),
                               on_lost=callback("lost"))
            while run.running():
                done = {}
                for m in consumer.consume(num_messages=args.max_poll_records, timeout=0.2):
                    err = m.error()
                    if err is not None:
                        if err.code() == confluent_kafka.KafkaError._PARTITION_EOF:
                            continue
                        if err.fatal():
                            raise self.failure(err)
                        run.error(err.name(), str(err))
                    elif run.record(m.topic(), m.partition(), m.offset(), m.key(), m.value()):
                        done[(m.topic(), m.partition())] = run.commit_offset(m.partition(), m.offset() + 1)
                    else:
                        try:
                            consumer.pause([confluent_kafka.TopicPartition(m.topic(), m.partition())])
                        except confluent_kafka.KafkaException:
                            pass  # no longer assigned
                if done and args.commit == "batch":
                    offsets = [confluent_kafka.TopicPartition(t, p, o) for (t, p), o in sorted(done.items())]
                    try:
                        result = consumer.commit(offsets=offsets, asynchronous=False)
                        failed = [tp for tp in result if tp.error is not None]
                        if failed:
                            run.commit_failed(failed[0].error.name(), str(failed))
                        else:
                            run.committed((tp.topic, tp.partition, tp.offset) for tp in result)
                    except confluent_kafka.KafkaException as e:
                        err = e.args[0]
                        kind = err.name() if isinstance(err, confluent_kafka.KafkaError) else "KafkaException"
                        run.commit_failed(kind, str(e))
        finally:
            consumer.close()
        run.closed()

    def result(self, future):
        try:
            return future.result(timeout=self.args.timeout)
        except confluent_kafka.KafkaException as e:
            raise self.failure(e.args[0])

    def describe_groups(self, groups):
        # The AdminClient must outlive its futures: a collected client never completes them.
        admin = self.admin()
        futures = admin.describe_consumer_groups(groups, request_timeout=self.args.timeout)
        result = []
        for g in groups:
            try:
                d = futures[g].result(timeout=self.args.timeout)
            except confluent_kafka.KafkaException as e:
                result.append({"group": g, "state": None, "protocol_type": None, "protocol": None,
                               "group_error": e.args[0].name(), "members": []})
                continue
            members = [{"member_id": m.member_id, "client_id": m.client_id, "host": m.host,
                        "instance_id": m.group_instance_id,
                        "assignment": sorted([tp.topic, tp.partition] for tp in m.assignment.topic_partitions)}
                       for m in d.members]
            result.append({"group": g, "state": group_state(d.state.name),
                           "protocol_type": "" if d.is_simple_consumer_group else "consumer",
                           "protocol": d.partition_assignor, "group_error": None, "members": members})
        return result

    def list_groups(self):
        admin = self.admin()
        listed = self.result(admin.list_consumer_groups(request_timeout=self.args.timeout))
        if listed.errors:
            err = listed.errors[0]
            raise self.failure(err.args[0] if isinstance(err, confluent_kafka.KafkaException) else err)
        return [{"group": g.group_id, "state": group_state(g.state.name),
                 "protocol_type": "" if g.is_simple_consumer_group else "consumer"} for g in listed.valid]

    def group_offsets(self, group):
        request = [confluent_kafka.ConsumerGroupTopicPartitions(group)]
        admin = self.admin()
        futures = admin.list_consumer_group_offsets(request, request_timeout=self.args.timeout)
        found = self.result(futures[group])
        return [{"topic": tp.topic, "partition": tp.partition, "offset": tp.offset, "metadata": tp.metadata}
                for tp in sorted(found.topic_partitions, key=lambda tp: (tp.topic, tp.partition))]

    def delete_groups(self, groups):
        admin = self.admin()
        futures = admin.delete_consumer_groups(groups, request_timeout=self.args.timeout)
        result = []
        for g in groups:
            try:
                futures[g].result(timeout=self.args.timeout)
                result.append({"group": g, "group_error": None})
            except confluent_kafka.KafkaException as e:
                result.append({"group": g, "group_error": e.args[0].name()})
        return result


# ---------------------------------------------------------------------------------------------
# aiokafka (asyncio); each method runs its own event loop


class AioKafkaDriver:
    def __init__(self, args):
        self.args = args
        self.bootstrap = args.bootstrap

    def common(self):
        return {"bootstrap_servers": self.bootstrap, "request_timeout_ms": max(1000, int(self.args.timeout * 1000))}

    def create_topic(self, topic, partitions):
        async def run():
            admin = aiokafka.admin.AIOKafkaAdminClient(**self.common())
            await admin.start()
            try:
                resp = await admin.create_topics([aiokafka.admin.NewTopic(topic, partitions, 1)])
                for t in resp.topic_errors:
                    code = t[1]
                    if code != 0:
                        raise Failure(aiokafka.errors.for_code(code).__name__, repr(t))
            finally:
                await admin.close()
        asyncio.run(run())

    def list_topics(self, topics):
        async def run():
            consumer = aiokafka.AIOKafkaConsumer(group_id=None, **self.common())
            await consumer.start()
            try:
                cluster = await consumer._client.fetch_all_metadata()
                return [(t, sorted(cluster.partitions_for_topic(t) or [])) for t in sorted(cluster.topics())
                        if not topics or t in topics]
            finally:
                await consumer.stop()
        return asyncio.run(run())

    def failure(self, e):
        if isinstance(e, aiokafka.errors.UnknownTopicOrPartitionError):
            return Failure(UNKNOWN_TOPIC, repr(e))
        return Failure(type(e).__name__, repr(e))

    def produce(self, topic, records, opts, deadline):
        async def run():
            config = dict(self.common())
            config.update({
                "acks": opts.acks if opts.acks == "all" else int(opts.acks),
                "compression_type": None if opts.compression == "none" else opts.compression,
                "max_request_size": opts.max_request_size,
                "linger_ms": opts.linger_ms,
                "request_timeout_ms": opts.delivery_timeout_ms,
            })
            if opts.idempotence != "default":
                config["enable_idempotence"] = opts.idempotence == "on"
            producer = aiokafka.AIOKafkaProducer(**config)
            await producer.start()
            try:
                futures = []
                for r in records:
                    futures.append(await producer.send(
                        topic, value=r["value"], key=r["key"], headers=r["headers"],
                        partition=r["partition"], timestamp_ms=r["timestamp"]))
                mds = await asyncio.wait_for(asyncio.gather(*futures), timeout=deadline.left())
                # aiokafka 0.14's MessageBatch.done() gives every record of a batch the first
                # record's timestamp when the broker answers -1 (CreateTime); a CreateTime
                # record's timestamp is the one it was sent with, so report that.
                return [(md.partition, md.offset,
                         r["timestamp"] if md.timestamp_type == 0 and r["timestamp"] is not None else md.timestamp)
                        for md, r in zip(mds, records)]
            except aiokafka.errors.KafkaError as e:
                raise self.failure(e)
            except asyncio.TimeoutError:
                raise Failure("TIMEOUT", f"delivering {len(records)} records")
            finally:
                await producer.stop()
        return asyncio.run(run())

    async def partitions_of(self, consumer, topic, deadline):
        while True:
            # consumer.partitions_for_topic() knows only assigned topics; ask the broker.
            parts = (await consumer._client.fetch_all_metadata()).partitions_for_topic(topic)
            if parts:
                return parts
            deadline.check(f"metadata for {topic}")

    def consumer(self):
        return aiokafka.AIOKafkaConsumer(group_id=None, enable_auto_commit=False,
                                         auto_offset_reset="earliest", **self.common())

    def consume(self, topic, args, deadline):
        async def run():
            consumer = self.consumer()
            await consumer.start()
            try:
                parts = args.partitions or await self.partitions_of(consumer, topic, deadline)
                plan = ConsumePlan(args, parts)
                tps = [aiokafka.TopicPartition(topic, p) for p in plan.partitions]
                consumer.assign(tps)
                ends = await consumer.end_offsets(tps)
                plan.begin({tp.partition: o for tp, o in ends.items()})
                if plan.start_time is not None:
                    found = await consumer.offsets_for_times({tp: plan.start_time for tp in tps})
                    for tp in tps:
                        o = found.get(tp)
                        plan.start[tp.partition] = o.offset if o is not None else ends[tp]
                for tp in tps:
                    consumer.seek(tp, plan.start_pos(tp.partition))
                while True:
                    while not plan.done():
                        deadline.check(f"consuming {topic} (phase {plan.phase}, {plan.printed} records)")
                        batches = await consumer.getmany(timeout_ms=200)
                        for tp in sorted(batches, key=lambda t: t.partition):
                            for m in batches[tp]:
                                plan.emit(record_line(plan.phase, m.partition, m.offset, m.key, m.value,
                                                      list(m.headers), m.timestamp,
                                                      "create" if m.timestamp_type == 0 else "log_append"))
                    if not plan.next_phase():
                        return
                    for p, o in plan.seek.items():
                        consumer.seek(aiokafka.TopicPartition(topic, p), o)
            except aiokafka.errors.KafkaError as e:
                raise self.failure(e)
            finally:
                await consumer.stop()
        asyncio.run(run())

    def list_offsets(self, topic, spec, partitions, deadline):
        async def run():
            consumer = self.consumer()
            await consumer.start()
            try:
                parts = partitions or await self.partitions_of(consumer, topic, deadline)
                tps = [aiokafka.TopicPartition(topic, p) for p in sorted(parts)]
                if spec == "earliest":
                    found = await consumer.beginning_offsets(tps)
                    return [(tp.partition, o, None) for tp, o in sorted(found.items())]
                if spec == "latest":
                    found = await consumer.end_offsets(tps)
                    return [(tp.partition, o, None) for tp, o in sorted(found.items())]
                found = await consumer.offsets_for_times({tp: int(spec) for tp in tps})
                return [(tp.partition, None if o is None else o.offset, None if o is None else o.timestamp)
                        for tp, o in sorted(found.items())]
            finally:
                await consumer.stop()
        return asyncio.run(run())

    def group_consume(self, args, run):
        assignors = {
            "range": "aiokafka.coordinator.assignors.range:RangePartitionAssignor",
            "roundrobin": "aiokafka.coordinator.assignors.roundrobin:RoundRobinPartitionAssignor",
        }

        async def go():
            config = dict(self.common())
            config.update({
                "group_id": args.group,
                "client_id": args.client_id,
                "session_timeout_ms": args.session_timeout_ms,
                "heartbeat_interval_ms": args.heartbeat_interval_ms,
                "max_poll_interval_ms": args.max_poll_interval_ms,
                "enable_auto_commit": args.commit == "auto",
                "auto_offset_reset": "earliest",
                "max_poll_records": args.max_poll_records,
            })
            if args.assignment_strategy:
                if args.assignment_strategy not in assignors:
                    raise Failure("BAD_INPUT", f"aiokafka has no {args.assignment_strategy} assignor here")
                config["partition_assignment_strategy"] = (load(assignors[args.assignment_strategy]),)
            if args.instance_id:
                config["group_instance_id"] = args.instance_id
            consumer = aiokafka.AIOKafkaConsumer(**config)

            def report(kind, partitions):
                coordinator = consumer._coordinator
                run.rebalance(kind, [(tp.topic, tp.partition) for tp in partitions],
                              getattr(coordinator, "member_id", None), getattr(coordinator, "generation", None))

            class Listener(aiokafka.ConsumerRebalanceListener):
                async def on_partitions_revoked(self, revoked):
                    report("revoked", revoked)

                async def on_partitions_assigned(self, assigned):
                    report("assigned", assigned)

            await consumer.start()
            try:
                consumer.subscribe(topics=args.topic, listener=Listener())
                while run.running():
                    batches = await consumer.getmany(timeout_ms=200, max_records=args.max_poll_records)
                    done = {}
                    for tp in sorted(batches):
                        for m in batches[tp]:
                            if run.record(m.topic, m.partition, m.offset, m.key, m.value):
                                done[tp] = run.commit_offset(m.partition, m.offset + 1)
                            else:
                                consumer.pause(tp)
                                break
                    if done and args.commit == "batch":
                        try:
                            await consumer.commit(dict(done))
                            run.committed((tp.topic, tp.partition, o) for tp, o in done.items())
                        except aiokafka.errors.KafkaError as e:
                            run.commit_failed(type(e).__name__, repr(e))
            finally:
                await consumer.stop()
            run.closed()
        asyncio.run(go())


DRIVERS = {"kafka-python": KafkaPythonDriver, "confluent": ConfluentDriver, "aiokafka": AioKafkaDriver}


# ---------------------------------------------------------------------------------------------


def partition_offset(s):
    p, _, o = s.partition(":")
    return int(p), int(o)


def partition_list(s):
    return [int(p) for p in s.split(",") if p]


def limit_spec(s):
    """`P:OFFSET` for one partition, `OFFSET` for all."""
    p, sep, o = s.partition(":")
    return (int(p), int(o)) if sep else (None, int(p))


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--client", required=True, choices=sorted(DRIVERS))
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds for the whole command")
    parser.add_argument("--log-level", default="CRITICAL", help="Python logging level on stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    c = sub.add_parser("create-topic")
    c.add_argument("--topic", required=True)
    c.add_argument("--partitions", type=int, required=True)

    c = sub.add_parser("list-topics")
    c.add_argument("--topic", action="append", default=[])

    c = sub.add_parser("produce")
    c.add_argument("--topic", required=True)
    c.add_argument("--compression", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    c.add_argument("--acks", default="all", choices=["all", "1", "0"])
    c.add_argument("--idempotence", default="default", choices=["default", "on", "off"])
    c.add_argument("--max-request-size", type=int, default=1048576)
    c.add_argument("--linger-ms", type=int, default=5)
    c.add_argument("--delivery-timeout-ms", type=int, default=30000)

    c = sub.add_parser("consume")
    c.add_argument("--topic", required=True)
    c.add_argument("--partitions", type=partition_list)
    c.add_argument("--start", type=partition_offset, action="append")
    c.add_argument("--start-time", type=int)
    c.add_argument("--count", type=int)
    c.add_argument("--seek", type=partition_offset, action="append")
    c.add_argument("--recount", type=int, default=0)

    c = sub.add_parser("list-offsets")
    c.add_argument("--topic", required=True)
    c.add_argument("--spec", required=True)
    c.add_argument("--partitions", type=partition_list)

    c = sub.add_parser("group-consume")
    c.add_argument("--group", required=True)
    c.add_argument("--topic", action="append", required=True)
    c.add_argument("--client-id", default="rill-compat")
    c.add_argument("--instance-id")
    c.add_argument("--assignment-strategy", choices=["range", "roundrobin", "sticky", "cooperative-sticky"])
    c.add_argument("--session-timeout-ms", type=int, default=10000)
    c.add_argument("--heartbeat-interval-ms", type=int, default=1000)
    c.add_argument("--max-poll-interval-ms", type=int, default=30000)
    c.add_argument("--commit", default="batch", choices=["batch", "auto", "none"])
    c.add_argument("--max-poll-records", type=int, default=500)
    c.add_argument("--limit", type=limit_spec, action="append")
    c.add_argument("--commit-cap", type=limit_spec, action="append")
    c.add_argument("--max-seconds", type=float, default=120.0)
    c.add_argument("--debug")

    for name in ("describe-groups", "delete-groups"):
        c = sub.add_parser(name)
        c.add_argument("--group", action="append", required=True)
    sub.add_parser("list-groups")
    c = sub.add_parser("group-offsets")
    c.add_argument("--group", required=True)
    return parser.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    level = getattr(logging, args.log_level.upper())
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setLevel(level)
    stderr.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    # The root logger passes ERROR records on even when stderr shows less, for the handlers
    # that watch client logs (see _UnknownTopicLog).
    logging.basicConfig(level=min(level, logging.ERROR), handlers=[stderr])
    deadline = Deadline(args.timeout)
    driver = DRIVERS[args.client](args)
    try:
        if args.command == "create-topic":
            driver.create_topic(args.topic, args.partitions)
            out({"topic": args.topic, "partitions": args.partitions})
        elif args.command == "list-topics":
            for name, parts in driver.list_topics(set(args.topic)):
                out({"topic": name, "partitions": parts})
        elif args.command == "produce":
            records = read_input_records()
            for partition, offset, timestamp in driver.produce(args.topic, records, args, deadline):
                out({"partition": partition, "offset": offset, "timestamp": timestamp})
        elif args.command == "consume":
            if args.seek and not args.recount:
                raise Failure("BAD_INPUT", "--seek needs --recount")
            driver.consume(args.topic, args, deadline)
        elif args.command == "list-offsets":
            if args.spec == "max-timestamp" and args.client != "confluent":
                raise Failure("BAD_INPUT", "max-timestamp is implemented for --client confluent only")
            for partition, offset, timestamp in driver.list_offsets(args.topic, args.spec, args.partitions, deadline):
                out({"partition": partition, "offset": offset, "timestamp": timestamp})
        elif args.command == "group-consume":
            driver.group_consume(args, GroupRun(args))
        elif args.command in ("describe-groups", "list-groups", "group-offsets", "delete-groups"):
            if not hasattr(driver, "describe_groups"):
                raise Failure("BAD_INPUT", f"{args.command} is implemented for confluent and kafka-python only")
            if args.command == "describe-groups":
                lines = driver.describe_groups(args.group)
            elif args.command == "list-groups":
                lines = driver.list_groups()
            elif args.command == "group-offsets":
                lines = driver.group_offsets(args.group)
            else:
                lines = driver.delete_groups(args.group)
            for line in lines:
                out(line)
    except Failure as f:
        out({"error": f.kind, "detail": f.detail, "elapsed_ms": int((time.monotonic() - START) * 1000)})
        return 1
    except (kafka.errors.KafkaError, aiokafka.errors.KafkaError) as e:
        kind = UNKNOWN_TOPIC if isinstance(e, (kafka.errors.UnknownTopicOrPartitionError,
                                                aiokafka.errors.UnknownTopicOrPartitionError)) else type(e).__name__
        out({"error": kind, "detail": repr(e), "elapsed_ms": int((time.monotonic() - START) * 1000)})
        return 1
    except (AssertionError, TypeError, ValueError) as e:
        # The client refused its input (aiokafka and kafka-python assert "key or value").
        out({"error": "CLIENT_REJECTED", "detail": repr(e), "elapsed_ms": int((time.monotonic() - START) * 1000)})
        return 1
    except confluent_kafka.KafkaException as e:
        err = e.args[0]
        kind = err.name() if isinstance(err, confluent_kafka.KafkaError) else "KafkaException"
        out({"error": kind, "detail": str(e), "elapsed_ms": int((time.monotonic() - START) * 1000)})
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
