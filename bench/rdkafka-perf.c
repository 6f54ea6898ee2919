/*
 * rdkafka-perf: a small load generator for Rill (or any Kafka-compatible broker) on top of
 * librdkafka, the native client most Kafka users run in production.
 *
 *   rdkafka-perf produce      --topic T --num-records N [--record-size S] [--acks A] [-X k=v ...]
 *   rdkafka-perf consume      --topic T --num-records N [-X k=v ...]
 *   rdkafka-perf create-topic --topic T [--partitions P] [--replication-factor R] [--config k=v ...]
 *
 * Why our own tool rather than Kafka's Java perf tools: the benchmark machine has two cores shared
 * by the client and the broker, so the client must cost as little as possible per record. This
 * one is single-threaded on the application side and never copies or allocates a payload. It
 * hands records to librdkafka 64 at a time with rd_kafka_produce_batch(), which takes the
 * partition lock and reads the clock once per call instead of once per record: on the
 * development machine that halves the client's CPU time at 100 B records (about 0.5 instead of
 * 1.0 CPU-second per million). Partitions take turns per call, the way librdkafka's sticky
 * partitioner spreads keyless records. Delivery reports are timed with one clock read per poll.
 *
 * Output follows Kafka's kafka-producer-perf-test and kafka-consumer-perf-test line for line (their
 * "MB" is 2^20 bytes), followed by one extra `key=value` line with MB in 10^6 units and exact
 * latency percentiles in microseconds, which scripts/perf parses.
 *
 * Exit status: 0 success; 1 some records failed or were not consumed; 2 usage or setup error
 * (bad option, broker unreachable, no progress for --timeout seconds); 130 interrupted.
 *
 * Build: gcc -O2 -Wall -Wextra -o rdkafka-perf rdkafka-perf.c $(pkg-config --cflags --libs rdkafka)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <librdkafka/rdkafka.h>

#define PROG "rdkafka-perf"
#define EXIT_FAILED 1
#define EXIT_SETUP 2
#define EXIT_INTERRUPTED 130
#define MAX_KV 64

/* Records consumed per rd_kafka_consume_batch_queue() call. */
#define CONSUME_BATCH 4096
/* Serve delivery reports after about this many records, so latencies are observed promptly. */
#define PRODUCE_POLL_EVERY 256

static volatile sig_atomic_t interrupted;

static void on_signal(int sig) {
    (void)sig;
    interrupted = 1;
}

struct kv_list {
    const char *key[MAX_KV];
    const char *value[MAX_KV];
    int n;
};

struct options {
    const char *mode;
    const char *bootstrap;
    const char *topic;
    long long num_records;
    long long record_size;
    long long produce_batch;
    const char *acks;
    long long partitions;
    long long replication;
    double timeout_s;
    double report_s;
    struct kv_list props;        /* -X: librdkafka client properties */
    struct kv_list topic_config; /* --config: topic configs for create-topic */
};

/* ---------------------------------------------------------------- utilities */

static void die(int status, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": error: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(status);
}

static int64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static long long parse_int(const char *opt, const char *s, long long min, long long max) {
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        die(EXIT_SETUP, "%s: expected an integer in %lld..%lld, got '%s'", opt, min, max, s);
    return v;
}

static double parse_seconds(const char *opt, const char *s) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v > 0) || v > 86400)
        die(EXIT_SETUP, "%s: expected seconds in (0, 86400], got '%s'", opt, s);
    return v;
}

static void kv_add(struct kv_list *l, const char *opt, char *arg) {
    char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        die(EXIT_SETUP, "%s: expected key=value, got '%s'", opt, arg);
    if (l->n == MAX_KV)
        die(EXIT_SETUP, "%s: at most %d are allowed", opt, MAX_KV);
    *eq = '\0';
    l->key[l->n] = arg;
    l->value[l->n] = eq + 1;
    l->n++;
}

/* Wall-clock time as Kafka's perf tools print it: yyyy-MM-dd HH:mm:ss:SSS, local time. */
static void format_wall(char *buf, size_t len, const struct timespec *ts) {
    struct tm tm;
    localtime_r(&ts->tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%d %H:%M:%S", &tm);
    snprintf(buf + n, len - n, ":%03ld", ts->tv_nsec / 1000000);
}

/* ------------------------------------------------------------ configuration */

/*
 * Throughput-oriented defaults, the settings a user would pick for a max-rate test; every one can
 * be overridden with -X. Values that equal librdkafka's defaults are listed anyway so that the
 * printed configuration is the whole story.
 */
static const char *const producer_defaults[][2] = {
    {"linger.ms", "10"},
    /* Batches are bounded by bytes, not by count: 1 MB batches even at 100 B records. */
    {"batch.size", "1000000"},
    {"batch.num.messages", "1000000"},
    /* Queue up to 32 MiB or 100,000 records (the Java producer's buffer.memory default and
     * librdkafka's own): ten or more full batches to keep the broker busy, while a saturated run
     * still reports latencies of tens of milliseconds rather than seconds. */
    {"queue.buffering.max.kbytes", "32768"},
    {"queue.buffering.max.messages", "100000"},
    {"compression.codec", "none"},
    {"enable.idempotence", "false"},
    {"socket.nagle.disable", "true"},
};

static const char *const consumer_defaults[][2] = {
    /* Large fetches: up to 16 MiB per partition and 64 MiB per response. */
    {"fetch.max.bytes", "67108864"},
    {"max.partition.fetch.bytes", "16777216"},
    {"receive.message.max.bytes", "134217728"},
    {"fetch.wait.max.ms", "100"},
    {"fetch.min.bytes", "1"},
    /* Prefetch up to 128 MiB per partition so fetching overlaps with consuming. */
    {"queued.max.messages.kbytes", "131072"},
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "false"},
    {"socket.nagle.disable", "true"},
};

struct run_state;
static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque);

static void conf_set(rd_kafka_conf_t *conf, const char *key, const char *value) {
    char errstr[512];
    if (rd_kafka_conf_set(conf, key, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK)
        die(EXIT_SETUP, "librdkafka property %s=%s: %s", key, value, errstr);
}

/* Builds a client configuration: defaults, then the -X overrides; prints the result to stderr. */
static rd_kafka_conf_t *make_conf(const struct options *o, const char *const (*defaults)[2], size_t ndefaults,
                                  void *opaque) {
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    conf_set(conf, "bootstrap.servers", o->bootstrap);
    conf_set(conf, "client.id", PROG);
    for (size_t i = 0; i < ndefaults; i++)
        conf_set(conf, defaults[i][0], defaults[i][1]);
    for (int i = 0; i < o->props.n; i++)
        conf_set(conf, o->props.key[i], o->props.value[i]);

    fprintf(stderr, PROG ": librdkafka %s, %s %s at %s", rd_kafka_version_str(), o->mode, o->topic, o->bootstrap);
    for (size_t i = 0; i < ndefaults; i++) {
        char value[256];
        size_t len = sizeof value;
        if (rd_kafka_conf_get(conf, defaults[i][0], value, &len) == RD_KAFKA_CONF_OK)
            fprintf(stderr, " %s=%s", defaults[i][0], value);
    }
    for (int i = 0; i < o->props.n; i++) {
        int listed = 0;
        for (size_t j = 0; j < ndefaults; j++)
            listed |= !strcmp(o->props.key[i], defaults[j][0]);
        if (!listed)
            fprintf(stderr, " %s=%s", o->props.key[i], o->props.value[i]);
    }
    fputc('\n', stderr);

    rd_kafka_conf_set_opaque(conf, opaque);
    rd_kafka_conf_set_error_cb(conf, error_cb);
    return conf;
}

/* ------------------------------------------------------------ shared state */

struct run_state {
    int64_t t0_us;          /* start of the measured run */
    int64_t last_progress;  /* time of the last delivery report / consumed record */
    char last_error[512];   /* the most recent client error, for the give-up message */
    int fatal;

    /* produce */
    uint32_t *latency_us;   /* one entry per delivered record, in delivery order */
    long long delivered;
    long long failed;
    char first_failure[256];
    int64_t dr_now;         /* clock read once per rd_kafka_poll() call, 0 = not yet read */
    long long record_size;

    /* progress window, Kafka's printWindow() */
    int64_t win_start;
    long long win_count;
    long long win_bytes;
    int64_t win_lat_sum;
    int64_t win_lat_max;
};

static void error_cb(rd_kafka_t *rk, int err, const char *reason, void *opaque) {
    struct run_state *st = opaque;
    /* librdkafka logs transport failures itself; repeated identical errors are reported once. */
    if (err != RD_KAFKA_RESP_ERR__TRANSPORT && strcmp(st->last_error, reason) != 0)
        fprintf(stderr, PROG ": client error: %s: %s\n", rd_kafka_err2name(err), reason);
    snprintf(st->last_error, sizeof st->last_error, "%s", reason);
    if (err == RD_KAFKA_RESP_ERR__FATAL) {
        char fatal[512];
        rd_kafka_fatal_error(rk, fatal, sizeof fatal);
        fprintf(stderr, PROG ": fatal client error: %s\n", fatal);
        st->fatal = 1;
    }
}

static void give_up_if_stalled(const struct run_state *st, double timeout_s, const char *what) {
    int64_t idle = now_us() - st->last_progress;
    if (idle < (int64_t)(timeout_s * 1e6))
        return;
    die(EXIT_SETUP, "no %s for %.0f s, giving up (last client error: %s)", what, timeout_s,
        st->last_error[0] ? st->last_error : "none");
}

/* ---------------------------------------------------------------- metadata */

/*
 * The topic's partition ids, from a Metadata request. A topic that was just created (or is being
 * auto-created) may briefly report no leader or not exist yet, so those answers are retried for
 * a few seconds.
 */
static int topic_partitions(rd_kafka_t *rk, rd_kafka_topic_t *rkt, const struct options *o,
                            const struct run_state *st, int32_t **out) {
    int64_t deadline = now_us() + (int64_t)(o->timeout_s * 1e6);
    int64_t unknown_deadline = now_us() + 5000000;
    for (;;) {
        const struct rd_kafka_metadata *md = NULL;
        int remaining_ms = (int)((deadline - now_us()) / 1000);
        rd_kafka_resp_err_t err = rd_kafka_metadata(rk, 0, rkt, &md, remaining_ms > 0 ? remaining_ms : 1);
        if (err)
            die(EXIT_SETUP, "metadata for topic %s at %s: %s%s%s", o->topic, o->bootstrap, rd_kafka_err2str(err),
                st->last_error[0] ? "; last client error: " : "", st->last_error);
        rd_kafka_resp_err_t terr = md->topic_cnt == 1 ? md->topics[0].err : RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        int n = md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0;
        int ready = !terr && n > 0;
        for (int i = 0; ready && i < n; i++)
            ready = md->topics[0].partitions[i].leader >= 0;
        if (ready) {
            *out = malloc((size_t)n * sizeof **out);
            if (!*out)
                die(EXIT_SETUP, "out of memory");
            for (int i = 0; i < n; i++)
                (*out)[i] = md->topics[0].partitions[i].id;
            rd_kafka_metadata_destroy(md);
            return n;
        }
        rd_kafka_metadata_destroy(md);
        int64_t now = now_us();
        if (now >= deadline || (terr == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART && now >= unknown_deadline))
            die(EXIT_SETUP, "topic %s at %s: %s", o->topic, o->bootstrap,
                terr ? rd_kafka_err2str(terr) : n ? "a partition has no leader" : "no partitions");
        struct timespec pause = {0, 100 * 1000000};
        nanosleep(&pause, NULL);
    }
}

/* ---------------------------------------------------------------- produce */

static void dr_msg_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    (void)rk;
    struct run_state *st = opaque;
    /* All reports served by one rd_kafka_poll() arrived together: one clock read covers them. */
    if (!st->dr_now)
        st->dr_now = now_us();
    st->last_progress = st->dr_now;

    if (m->err) {
        if (!st->failed++)
            snprintf(st->first_failure, sizeof st->first_failure, "%s", rd_kafka_err2str(m->err));
        return;
    }
    int64_t offered = (int64_t)(intptr_t)m->_private;
    int64_t lat = st->dr_now - offered;
    if (lat < 0)
        lat = 0;
    st->latency_us[st->delivered++] = lat > UINT32_MAX ? UINT32_MAX : (uint32_t)lat;
    st->win_count++;
    st->win_bytes += (long long)m->len;
    st->win_lat_sum += lat;
    if (lat > st->win_lat_max)
        st->win_lat_max = lat;
}

static void poll_producer(rd_kafka_t *rk, struct run_state *st, int timeout_ms) {
    st->dr_now = 0;
    rd_kafka_poll(rk, timeout_ms);
}

/* Kafka's periodic line: records completed in the window, with their rate and latency. */
static void maybe_print_window(struct run_state *st, double report_s) {
    int64_t now = now_us();
    int64_t elapsed = now - st->win_start;
    if (elapsed < (int64_t)(report_s * 1e6))
        return;
    double secs = elapsed / 1e6;
    printf("%lld records sent, %.1f records/sec (%.2f MB/sec), %.1f ms avg latency, %.1f ms max latency.\n",
           st->win_count, st->win_count / secs, st->win_bytes / secs / (1024.0 * 1024.0),
           st->win_count ? st->win_lat_sum / 1000.0 / st->win_count : 0.0, st->win_lat_max / 1000.0);
    fflush(stdout);
    st->win_start = now;
    st->win_count = st->win_bytes = 0;
    st->win_lat_sum = st->win_lat_max = 0;
}

/* Sorts n latencies in two 16-bit radix passes: a few ms for millions, where qsort takes ~100. */
static void sort_u32(uint32_t *v, long long n) {
    uint32_t *tmp = malloc((size_t)n * sizeof *tmp);
    size_t *count = calloc(65536, sizeof *count);
    if (!tmp || !count)
        die(EXIT_SETUP, "out of memory sorting %lld latencies", n);
    for (int shift = 0; shift < 32; shift += 16) {
        memset(count, 0, 65536 * sizeof *count);
        for (long long i = 0; i < n; i++)
            count[(v[i] >> shift) & 0xffff]++;
        size_t pos = 0;
        for (int d = 0; d < 65536; d++) {
            size_t c = count[d];
            count[d] = pos;
            pos += c;
        }
        for (long long i = 0; i < n; i++)
            tmp[count[(v[i] >> shift) & 0xffff]++] = v[i];
        memcpy(v, tmp, (size_t)n * sizeof *v);
    }
    free(tmp);
    free(count);
}

/* The value at index floor(p * n) of the sorted latencies, as Kafka's percentiles() picks it. */
static uint32_t percentile(const uint32_t *sorted, long long n, double p) {
    long long i = (long long)(p * (double)n);
    return sorted[i < n ? i : n - 1];
}

/* Kafka reports whole milliseconds; round to the nearest, which is what its truncated
 * millisecond clock differences average to. */
static long long to_whole_ms(uint32_t us) {
    return ((long long)us + 500) / 1000;
}

static void print_produce_summary(struct run_state *st, int64_t end_us) {
    long long n = st->delivered;
    double secs = (end_us - st->t0_us) / 1e6;
    if (secs <= 0)
        secs = 1e-6;
    double bytes = (double)n * (double)st->record_size;
    uint64_t lat_sum = 0;
    uint32_t lat_max = 0;
    for (long long i = 0; i < n; i++) {
        lat_sum += st->latency_us[i];
        if (st->latency_us[i] > lat_max)
            lat_max = st->latency_us[i];
    }
    double avg_us = n ? (double)lat_sum / n : 0;
    uint32_t p50 = 0, p95 = 0, p99 = 0, p999 = 0, p9999 = 0;
    if (n) {
        sort_u32(st->latency_us, n);
        p50 = percentile(st->latency_us, n, 0.5);
        p95 = percentile(st->latency_us, n, 0.95);
        p99 = percentile(st->latency_us, n, 0.99);
        p999 = percentile(st->latency_us, n, 0.999);
        p9999 = percentile(st->latency_us, n, 0.9999);
    }

    printf("%lld records sent, %f records/sec (%.2f MB/sec), %.2f ms avg latency, %.2f ms max latency, "
           "%lld ms 50th, %lld ms 95th, %lld ms 99th, %lld ms 99.9th.\n",
           n, n / secs, bytes / secs / (1024.0 * 1024.0), avg_us / 1000.0, lat_max / 1000.0, to_whole_ms(p50),
           to_whole_ms(p95), to_whole_ms(p99), to_whole_ms(p999));
    printf("summary: mode=produce records=%lld failed=%lld record_size=%lld seconds=%.3f records_per_sec=%.1f "
           "MB_per_sec=%.2f (MB=10^6) latency_us: avg=%.0f p50=%" PRIu32 " p95=%" PRIu32 " p99=%" PRIu32
           " p99.9=%" PRIu32 " p99.99=%" PRIu32 " max=%" PRIu32 "\n",
           n, st->failed, st->record_size, secs, n / secs, bytes / secs / 1e6, avg_us, p50, p95, p99, p999, p9999,
           lat_max);
    fflush(stdout);
}

static int run_produce(const struct options *o) {
    struct run_state st = {0};
    st.record_size = o->record_size;
    st.latency_us = malloc((size_t)o->num_records * sizeof *st.latency_us);
    char *payload = malloc((size_t)o->record_size ? (size_t)o->record_size : 1);
    if (!st.latency_us || !payload)
        die(EXIT_SETUP, "out of memory for %lld records", o->num_records);
    /* Random upper-case letters as Kafka's tool sends, from a fixed seed so runs are repeatable. */
    uint32_t x = 2463534242u;
    for (long long i = 0; i < o->record_size; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        payload[i] = (char)('A' + x % 26);
    }

    rd_kafka_conf_t *conf = make_conf(o, producer_defaults, sizeof producer_defaults / sizeof *producer_defaults, &st);
    conf_set(conf, "acks", strcmp(o->acks, "all") == 0 ? "-1" : o->acks);
    rd_kafka_conf_set_dr_msg_cb(conf, dr_msg_cb);
    char errstr[512];
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        die(EXIT_SETUP, "creating the producer: %s", errstr);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt)
        die(EXIT_SETUP, "topic %s: %s", o->topic, rd_kafka_err2str(rd_kafka_last_error()));

    int32_t *parts = NULL;
    int nparts = topic_partitions(rk, rkt, o, &st, &parts);
    rd_kafka_message_t *batch = calloc((size_t)o->produce_batch, sizeof *batch);
    if (!batch)
        die(EXIT_SETUP, "out of memory");

    fprintf(stderr, PROG ": producing %lld records of %lld B to %d partition(s), acks=%s, %lld records per call\n",
            o->num_records, o->record_size, nparts, o->acks, o->produce_batch);

    st.t0_us = st.win_start = st.last_progress = now_us();
    long long sent = 0, calls = 0;
    while (sent < o->num_records && !interrupted && !st.fatal) {
        int k = (int)(o->num_records - sent < o->produce_batch ? o->num_records - sent : o->produce_batch);
        /* One clock read per call serves as the send time of its k records. Latency starts when a
         * record is offered, so time spent waiting for queue space counts, as it does for the Java
         * producer's blocking send(). */
        int64_t offered = now_us();
        for (int i = 0; i < k; i++) {
            batch[i].payload = payload; /* msgflags 0 below: librdkafka neither copies nor frees it */
            batch[i].len = (size_t)o->record_size;
            batch[i]._private = (void *)(intptr_t)offered;
            batch[i].err = 0;
        }
        /* Partitions take turns, one call each, so each gets an equal share of keyless records. */
        int32_t partition = parts[calls++ % nparts];
        int pending = k;
        for (;;) {
            int ok = rd_kafka_produce_batch(rkt, partition, 0, batch, pending);
            sent += ok;
            if (ok == pending)
                break;
            /* Keep the records that were refused, in order, and retry them once there is room. */
            int left = 0;
            for (int i = 0; i < pending; i++) {
                if (!batch[i].err)
                    continue;
                if (batch[i].err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
                    die(EXIT_SETUP, "produce to partition %" PRId32 ": %s", partition, rd_kafka_err2str(batch[i].err));
                batch[left] = batch[i];
                batch[left++].err = 0;
            }
            pending = left;
            poll_producer(rk, &st, 1);
            maybe_print_window(&st, o->report_s);
            give_up_if_stalled(&st, o->timeout_s, "delivery report");
            if (interrupted || st.fatal)
                break;
        }
        if (calls % (PRODUCE_POLL_EVERY / o->produce_batch + 1) == 0) {
            poll_producer(rk, &st, 0);
            maybe_print_window(&st, o->report_s);
        }
    }

    /* Wait for the outstanding delivery reports. */
    while (st.delivered + st.failed < sent && !st.fatal) {
        poll_producer(rk, &st, 50);
        maybe_print_window(&st, o->report_s);
        if (interrupted)
            break;
        give_up_if_stalled(&st, o->timeout_s, "delivery report");
    }
    int64_t end = st.last_progress;
    print_produce_summary(&st, end);

    int status = 0;
    if (interrupted) {
        fprintf(stderr, PROG ": interrupted after %lld of %lld records\n", st.delivered, o->num_records);
        status = EXIT_INTERRUPTED;
    } else if (st.fatal) {
        status = EXIT_FAILED;
    } else if (st.failed) {
        fprintf(stderr, PROG ": %lld records failed; first error: %s\n", st.failed, st.first_failure);
        status = EXIT_FAILED;
    }
    rd_kafka_purge(rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(payload);
    free(st.latency_us);
    free(batch);
    free(parts);
    return status;
}

/* ---------------------------------------------------------------- consume */

static int run_consume(const struct options *o) {
    struct run_state st = {0};
    char errstr[512];
    /* No group.id: the simple (legacy) consumer with explicit partitions needs no group
     * coordinator, so a broker without FindCoordinator or JoinGroup can still be measured. */
    rd_kafka_conf_t *conf = make_conf(o, consumer_defaults, sizeof consumer_defaults / sizeof *consumer_defaults, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk)
        die(EXIT_SETUP, "creating the consumer: %s", errstr);
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, o->topic, NULL);
    if (!rkt)
        die(EXIT_SETUP, "topic %s: %s", o->topic, rd_kafka_err2str(rd_kafka_last_error()));

    struct timespec wall_start, wall_end;
    clock_gettime(CLOCK_REALTIME, &wall_start);
    int64_t start = now_us();

    /* Find the partitions; this stands where Kafka's tool waits for its group assignment, so its
     * time is reported as rebalance.time.ms. */
    int32_t *parts = NULL;
    int nparts = topic_partitions(rk, rkt, o, &st, &parts);
    rd_kafka_message_t **batch = malloc(CONSUME_BATCH * sizeof *batch);
    if (!batch)
        die(EXIT_SETUP, "out of memory");

    rd_kafka_queue_t *queue = rd_kafka_queue_new(rk);
    for (int i = 0; i < nparts; i++)
        if (rd_kafka_consume_start_queue(rkt, parts[i], RD_KAFKA_OFFSET_BEGINNING, queue) == -1)
            die(EXIT_SETUP, "starting partition %" PRId32 ": %s", parts[i], rd_kafka_err2str(rd_kafka_last_error()));
    int64_t fetch_start = now_us();
    fprintf(stderr, PROG ": consuming %d partition(s) of %s from the beginning\n", nparts, o->topic);

    long long records = 0, bytes = 0, win_records = 0, win_bytes = 0;
    int64_t win_start = fetch_start, end = fetch_start;
    st.last_progress = fetch_start;
    char last_failure[256] = "";
    while (records < o->num_records && !interrupted && !st.fatal) {
        ssize_t got = rd_kafka_consume_batch_queue(queue, 100, batch, CONSUME_BATCH);
        if (got < 0)
            die(EXIT_SETUP, "consume: %s", rd_kafka_err2str(rd_kafka_last_error()));
        rd_kafka_poll(rk, 0); /* serves error_cb */
        int64_t now = now_us();
        for (ssize_t i = 0; i < got; i++) {
            rd_kafka_message_t *m = batch[i];
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    const char *what = rd_kafka_message_errstr(m);
                    if (strcmp(last_failure, what) != 0)
                        fprintf(stderr, PROG ": partition %" PRId32 ": %s\n", m->partition, what);
                    snprintf(last_failure, sizeof last_failure, "%s", what);
                    snprintf(st.last_error, sizeof st.last_error, "%s", what);
                }
            } else if (records < o->num_records) {
                records++;
                win_records++;
                bytes += (long long)(m->len + m->key_len);
                win_bytes += (long long)(m->len + m->key_len);
                st.last_progress = end = now;
            }
            rd_kafka_message_destroy(m);
        }
        if (now - win_start >= (int64_t)(o->report_s * 1e6)) {
            double secs = (now - win_start) / 1e6;
            fprintf(stderr, PROG ": %lld records consumed, %.1f records/sec (%.2f MB/sec, MB=10^6) in the last %.1f s\n",
                    records, win_records / secs, win_bytes / secs / 1e6, secs);
            win_start = now;
            win_records = win_bytes = 0;
        }
        if (now - st.last_progress >= (int64_t)(o->timeout_s * 1e6)) {
            fprintf(stderr, PROG ": WARNING: no records for %.0f s, stopping after %lld of %lld (last client error: %s)\n",
                    o->timeout_s, records, o->num_records, st.last_error[0] ? st.last_error : "none");
            break;
        }
    }
    clock_gettime(CLOCK_REALTIME, &wall_end);
    /* Report the end as the moment the last record arrived, not when we noticed the timeout. */
    int64_t wall_end_us = (int64_t)wall_end.tv_sec * 1000000 + wall_end.tv_nsec / 1000 - (now_us() - end);
    wall_end.tv_sec = wall_end_us / 1000000;
    wall_end.tv_nsec = (wall_end_us % 1000000) * 1000;

    long long total_ms = (end - start) / 1000;
    long long rebalance_ms = (fetch_start - start) / 1000;
    long long fetch_ms = total_ms - rebalance_ms;
    double total_s = total_ms > 0 ? total_ms / 1000.0 : 1e-3;
    double fetch_s = fetch_ms > 0 ? fetch_ms / 1000.0 : 1e-3;
    double mib = bytes / (1024.0 * 1024.0);
    char ws[64], we[64];
    format_wall(ws, sizeof ws, &wall_start);
    format_wall(we, sizeof we, &wall_end);
    printf("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, "
           "rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n");
    printf("%s, %s, %.4f, %.4f, %lld, %.4f, %lld, %lld, %.4f, %.4f\n", ws, we, mib, mib / total_s, records,
           records / total_s, rebalance_ms, fetch_ms, mib / fetch_s, records / fetch_s);
    /* The extra line: exact elapsed time from the first fetch, MB in 10^6 units. */
    double exact_s = (end - fetch_start) / 1e6;
    if (exact_s <= 0)
        exact_s = 1e-6;
    printf("summary: mode=consume records=%lld bytes=%lld partitions=%d seconds=%.3f records_per_sec=%.1f "
           "MB_per_sec=%.2f (MB=10^6) setup_ms=%lld\n",
           records, bytes, nparts, exact_s, records / exact_s, bytes / exact_s / 1e6, rebalance_ms);
    fflush(stdout);

    for (int i = 0; i < nparts; i++)
        rd_kafka_consume_stop(rkt, parts[i]);
    rd_kafka_queue_destroy(queue);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_destroy(rk);
    free(parts);
    free(batch);

    if (interrupted)
        return EXIT_INTERRUPTED;
    if (records < o->num_records) {
        fprintf(stderr, PROG ": consumed %lld of %lld records\n", records, o->num_records);
        return EXIT_FAILED;
    }
    return st.fatal ? EXIT_FAILED : 0;
}

/* ----------------------------------------------------------- create-topic */

static int run_create_topic(const struct options *o) {
    struct run_state st = {0};
    char errstr[512];
    rd_kafka_conf_t *conf = make_conf(o, NULL, 0, &st);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!rk)
        die(EXIT_SETUP, "creating the admin client: %s", errstr);

    rd_kafka_NewTopic_t *nt =
        rd_kafka_NewTopic_new(o->topic, (int)o->partitions, (int)o->replication, errstr, sizeof errstr);
    if (!nt)
        die(EXIT_SETUP, "topic %s: %s", o->topic, errstr);
    for (int i = 0; i < o->topic_config.n; i++)
        if (rd_kafka_NewTopic_set_config(nt, o->topic_config.key[i], o->topic_config.value[i]))
            die(EXIT_SETUP, "topic config %s=%s rejected", o->topic_config.key[i], o->topic_config.value[i]);

    int timeout_ms = (int)(o->timeout_s * 1000);
    rd_kafka_AdminOptions_t *opts = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    if (rd_kafka_AdminOptions_set_request_timeout(opts, timeout_ms, errstr, sizeof errstr) ||
        rd_kafka_AdminOptions_set_operation_timeout(opts, timeout_ms, errstr, sizeof errstr))
        die(EXIT_SETUP, "admin options: %s", errstr);
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, &nt, 1, opts, q);

    /* The request timeout covers an unreachable broker; the margin covers the client's own
     * bookkeeping. Polling in slices lets Ctrl-C through. */
    rd_kafka_event_t *ev = NULL;
    int64_t deadline = now_us() + (int64_t)timeout_ms * 1000 + 5000000;
    while (!ev && !interrupted && now_us() < deadline)
        ev = rd_kafka_queue_poll(q, 200);
    if (!ev)
        die(interrupted ? EXIT_INTERRUPTED : EXIT_SETUP, "create topic %s: no answer (last client error: %s)",
            o->topic, st.last_error[0] ? st.last_error : "none");

    int status = 0;
    if (rd_kafka_event_error(ev)) {
        fprintf(stderr, PROG ": error: create topic %s at %s: %s%s%s\n", o->topic, o->bootstrap,
                rd_kafka_event_error_string(ev), st.last_error[0] ? "; last client error: " : "", st.last_error);
        status = EXIT_SETUP;
    } else {
        const rd_kafka_CreateTopics_result_t *res = rd_kafka_event_CreateTopics_result(ev);
        size_t cnt = 0;
        const rd_kafka_topic_result_t **topics = res ? rd_kafka_CreateTopics_result_topics(res, &cnt) : NULL;
        if (cnt != 1) {
            fprintf(stderr, PROG ": error: create topic %s: unexpected result with %zu topics\n", o->topic, cnt);
            status = EXIT_SETUP;
        } else if (rd_kafka_topic_result_error(topics[0])) {
            const char *msg = rd_kafka_topic_result_error_string(topics[0]);
            fprintf(stderr, PROG ": error: create topic %s: %s%s%s\n", o->topic,
                    rd_kafka_err2name(rd_kafka_topic_result_error(topics[0])), msg ? ": " : "", msg ? msg : "");
            status = EXIT_FAILED;
        } else {
            printf("Created topic %s.\n", o->topic);
        }
    }
    rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(opts);
    rd_kafka_NewTopic_destroy(nt);
    rd_kafka_destroy(rk);
    return status;
}

/* ------------------------------------------------------------------- main */

static void usage(FILE *out) {
    fprintf(out,
            "usage: " PROG " produce      --topic T --num-records N [--record-size BYTES] [--acks 0|1|all]\n"
            "                                  [--produce-batch K] [common options]\n"
            "       " PROG " consume      --topic T --num-records N [common options]\n"
            "       " PROG " create-topic --topic T [--partitions P] [--replication-factor R]\n"
            "                                  [--config key=value ...] [common options]\n"
            "produce: N keyless records of BYTES (default 100) with acks (default 1), printed like\n"
            "  kafka-producer-perf-test, latency measured from produce() to delivery report\n"
            "  --produce-batch K      records per rd_kafka_produce_batch() call (default 64; 1 = one call\n"
            "                         per record, as Kafka's tool does); K records share one send time\n"
            "consume: N records from the beginning of every partition, printed like\n"
            "  kafka-consumer-perf-test; uses the simple consumer, so the broker needs no group support\n"
            "create-topic: --config sets a topic config such as flush.messages=1 (repeatable)\n"
            "common options:\n"
            "  --bootstrap ADDR       broker address list (default 127.0.0.1:9092)\n"
            "  -X key=value           librdkafka property, overriding the tool's defaults (repeatable)\n"
            "  --timeout SECONDS      give up after this long without progress (default 30)\n"
            "  --report-interval SEC  progress line interval (default 5)\n"
            "produce and consume end with a 'summary:' line: MB = 10^6 B, latencies in microseconds.\n"
            "Exit status: 0 ok, 1 records failed or missing, 2 usage or setup error or no progress, 130 interrupted.\n");
}

int main(int argc, char **argv) {
    struct options o = {
        .bootstrap = "127.0.0.1:9092",
        .num_records = -1,
        .record_size = 100,
        .produce_batch = 64,
        .acks = "1",
        .partitions = 1,
        .replication = 1,
        .timeout_s = 30,
        .report_s = 5,
    };
    static const struct option longopts[] = {
        {"bootstrap", required_argument, 0, 'b'},       {"bootstrap-server", required_argument, 0, 'b'},
        {"topic", required_argument, 0, 't'},           {"num-records", required_argument, 0, 'n'},
        {"record-size", required_argument, 0, 's'},     {"acks", required_argument, 0, 'a'},
        {"partitions", required_argument, 0, 'p'},      {"replication-factor", required_argument, 0, 'r'},
        {"config", required_argument, 0, 'c'},          {"timeout", required_argument, 0, 'T'},
        {"report-interval", required_argument, 0, 'R'}, {"produce-batch", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0},
    };
    if (argc < 2 || argv[1][0] == '-') {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            usage(stdout);
            return 0;
        }
        usage(stderr);
        return EXIT_SETUP;
    }
    o.mode = argv[1];
    int is_produce = !strcmp(o.mode, "produce"), is_consume = !strcmp(o.mode, "consume");
    if (!is_produce && !is_consume && strcmp(o.mode, "create-topic"))
        die(EXIT_SETUP, "unknown mode '%s' (expected produce, consume or create-topic)", o.mode);
    optind = 2;
    int c;
    while ((c = getopt_long(argc, argv, "X:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'b': o.bootstrap = optarg; break;
        case 't': o.topic = optarg; break;
        case 'n': o.num_records = parse_int("--num-records", optarg, 1, 100000000); break;
        case 's': o.record_size = parse_int("--record-size", optarg, 0, 100000000); break;
        case 'a':
            if (strcmp(optarg, "0") && strcmp(optarg, "1") && strcmp(optarg, "-1") && strcmp(optarg, "all"))
                die(EXIT_SETUP, "--acks: expected 0, 1, -1 or all, got '%s'", optarg);
            o.acks = optarg;
            break;
        case 'B': o.produce_batch = parse_int("--produce-batch", optarg, 1, 4096); break;
        case 'p': o.partitions = parse_int("--partitions", optarg, 1, 100000); break;
        case 'r': o.replication = parse_int("--replication-factor", optarg, 1, 1000); break;
        case 'c': kv_add(&o.topic_config, "--config", optarg); break;
        case 'X': kv_add(&o.props, "-X", optarg); break;
        case 'T': o.timeout_s = parse_seconds("--timeout", optarg); break;
        case 'R': o.report_s = parse_seconds("--report-interval", optarg); break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return EXIT_SETUP;
        }
    }
    if (optind < argc)
        die(EXIT_SETUP, "unexpected argument '%s'", argv[optind]);
    if (!o.topic)
        die(EXIT_SETUP, "--topic is required");

    if ((is_produce || is_consume) && o.num_records < 0)
        die(EXIT_SETUP, "--num-records is required for %s", o.mode);

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    if (is_produce)
        return run_produce(&o);
    if (is_consume)
        return run_consume(&o);
    return run_create_topic(&o);
}
