/*
 * LD_PRELOAD shim for h2load (nghttp2-client), built by bench/h2load.py.
 *
 * 1. Rotating request bodies. h2load -d sends the same file on every request:
 *    it opens the file once and, for each stream, pread()s it from offset 0.
 *    When H2SHIM_DATA names that file and H2SHIM_BODIES names a file of N
 *    bodies of exactly the same length, every pread() of a whole body at
 *    offset 0 returns the next body (round robin) instead. A body that h2load
 *    reads in several pieces (flow control) comes from the -d file itself,
 *    consistently, so no request is ever a mix of two bodies.
 *
 * 2. gRPC status counting. h2load counts HTTP 200 as success, but gRPC
 *    reports errors in the grpc-status header or trailer. The shim wraps the
 *    header callback h2load registers with libnghttp2 and counts grpc-status
 *    values; at exit it writes "<code> <count>" lines to H2SHIM_STATUS_OUT.
 *    Counts cover the warm-up too (stricter than h2load's own numbers).
 *
 * 3. HTTP status counting, the same way, for HTTP/JSON through the gateway:
 *    ":status" 2xx is "http_ok", any other "http_failed".
 *
 * 4. Whole rotating requests, for a mixed load from one h2load process. When
 *    H2SHIM_REQUESTS names a file of records (u32 kind, u32 path length,
 *    u32 authorization length, u32 body length, then those bytes; native
 *    byte order), every nghttp2_submit_request h2load makes sends the next
 *    record's :path, authorization (when non-empty) and body, with its
 *    content-length, in place of h2load's own. The body is served by a data
 *    callback of the shim's, found through the stream's user data (h2load
 *    passes none), so a body always travels with its own headers.
 *    Each finished stream is logged as "<kind> <start us> <latency us>
 *    <grpc-status or -1> <http status>" to H2SHIM_CALLS_OUT at exit; start
 *    is CLOCK_MONOTONIC, so the reader can drop h2load's warm-up.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

typedef int (*header_cb)(void *session, const void *frame, const uint8_t *name,
                         size_t namelen, const uint8_t *value, size_t valuelen,
                         uint8_t flags, void *user_data);

static int data_fd = -1;
static char *bodies;
static size_t body_len;
static size_t body_count;
static size_t next_body;

#define MAX_CODE 17
static unsigned long long status_counts[MAX_CODE + 1]; /* index MAX_CODE: unparsable */
static header_cb original_header_cb;
static unsigned long long http_ok;
static unsigned long long http_failed;

static void load_bodies(void) {
    const char *path = getenv("H2SHIM_BODIES");
    if (path == NULL || *path == '\0') {
        return;
    }
    const char *len = getenv("H2SHIM_BODY_LEN");
    body_len = len ? strtoull(len, NULL, 10) : 0;
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || body_len == 0 || fstat(fd, &st) != 0 || st.st_size % body_len != 0) {
        fprintf(stderr, "h2load_shim: cannot use bodies file %s\n", path);
        exit(97);
    }
    bodies = malloc(st.st_size);
    size_t done = 0;
    while (done < (size_t)st.st_size) {
        ssize_t n = read(fd, bodies + done, st.st_size - done);
        if (n <= 0) {
            fprintf(stderr, "h2load_shim: short read of %s\n", path);
            exit(97);
        }
        done += n;
    }
    close(fd);
    body_count = st.st_size / body_len;
}

int open(const char *path, int flags, ...) {
    static int (*real_open)(const char *, int, ...);
    if (!real_open) {
        real_open = dlsym(RTLD_NEXT, "open");
    }
    mode_t mode = 0;
    if (flags & O_CREAT) {
        va_list ap;
        va_start(ap, flags);
        mode = va_arg(ap, mode_t);
        va_end(ap);
    }
    int fd = real_open(path, flags, mode);
    const char *data = getenv("H2SHIM_DATA");
    if (fd >= 0 && data != NULL && strcmp(path, data) == 0) {
        data_fd = fd;
        load_bodies();
    }
    return fd;
}

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
    static ssize_t (*real_pread)(int, void *, size_t, off_t);
    if (!real_pread) {
        real_pread = dlsym(RTLD_NEXT, "pread");
    }
    if (fd == data_fd && body_count > 0 && offset == 0 && count >= body_len) {
        size_t k = __atomic_fetch_add(&next_body, 1, __ATOMIC_RELAXED) % body_count;
        memcpy(buf, bodies + k * body_len, body_len);
        return (ssize_t)body_len;
    }
    return real_pread(fd, buf, count, offset);
}

/* ------------------------------------------------------------------ 4. requests */

typedef struct {
    uint8_t *name;
    uint8_t *value;
    size_t namelen;
    size_t valuelen;
    uint8_t flags;
} shim_nv; /* nghttp2_nv's layout (nghttp2.h, a stable ABI) */

typedef ssize_t (*read_cb)(void *session, int32_t stream_id, uint8_t *buf, size_t length,
                           uint32_t *data_flags, void *source, void *user_data);

typedef struct {
    union {
        int fd;
        void *ptr;
    } source;
    read_cb read_callback;
} shim_data_provider; /* nghttp2_data_provider's layout */

typedef int (*close_cb)(void *session, int32_t stream_id, uint32_t error_code, void *user_data);

typedef struct {
    uint32_t kind;
    uint32_t path_len;
    uint32_t auth_len;
    uint32_t body_len;
    const uint8_t *path;
    const uint8_t *auth;
    const uint8_t *body;
} request_record;

typedef struct {
    const request_record *record;
    size_t sent;
    uint64_t start_us;
    int grpc_status;
    int http_status;
} stream_state;

typedef struct {
    uint32_t kind;
    int32_t grpc_status;
    int32_t http_status;
    uint64_t start_us;
    uint64_t latency_us;
} call_log;

static request_record *records;
static size_t record_count;
static size_t next_record;
static int records_loaded;
static call_log *calls;
static size_t call_count;
static size_t call_capacity;
static close_cb original_close_cb;
static void *(*get_stream_user_data)(void *session, int32_t stream_id);

static uint64_t now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void load_records(void) {
    records_loaded = 1;
    const char *path = getenv("H2SHIM_REQUESTS");
    if (path == NULL || *path == '\0') {
        return;
    }
    FILE *f = fopen(path, "rb");
    if (f == NULL || fseek(f, 0, SEEK_END) != 0) {
        fprintf(stderr, "h2load_shim: cannot read requests file %s\n", path);
        exit(97);
    }
    long size = ftell(f);
    rewind(f);
    uint8_t *data = malloc(size);
    if (size <= 0 || fread(data, 1, size, f) != (size_t)size) {
        fprintf(stderr, "h2load_shim: short read of %s\n", path);
        exit(97);
    }
    fclose(f);
    size_t capacity = 1024;
    records = malloc(capacity * sizeof *records);
    size_t at = 0;
    while (at + 16 <= (size_t)size) {
        request_record r;
        memcpy(&r, data + at, 16);
        at += 16;
        if (at + (size_t)r.path_len + r.auth_len + r.body_len > (size_t)size || r.path_len == 0) {
            fprintf(stderr, "h2load_shim: malformed requests file %s\n", path);
            exit(97);
        }
        r.path = data + at;
        r.auth = r.path + r.path_len;
        r.body = r.auth + r.auth_len;
        at += (size_t)r.path_len + r.auth_len + r.body_len;
        if (record_count == capacity) {
            capacity *= 2;
            records = realloc(records, capacity * sizeof *records);
        }
        records[record_count++] = r;
    }
    get_stream_user_data = dlsym(RTLD_DEFAULT, "nghttp2_session_get_stream_user_data");
}

static ssize_t record_read_cb(void *session, int32_t stream_id, uint8_t *buf, size_t length,
                              uint32_t *data_flags, void *source, void *user_data) {
    (void)source;
    (void)user_data;
    stream_state *state = get_stream_user_data(session, stream_id);
    size_t left = state->record->body_len - state->sent;
    size_t n = left < length ? left : length;
    memcpy(buf, state->record->body + state->sent, n);
    state->sent += n;
    if (state->sent == state->record->body_len) {
        *data_flags |= 1; /* NGHTTP2_DATA_FLAG_EOF */
    }
    return (ssize_t)n;
}

int32_t nghttp2_submit_request(void *session, const void *pri_spec, const shim_nv *nva,
                               size_t nvlen, const shim_data_provider *data_prd,
                               void *stream_user_data) {
    static int32_t (*real_submit)(void *, const void *, const shim_nv *, size_t,
                                  const shim_data_provider *, void *);
    if (!real_submit) {
        real_submit = dlsym(RTLD_NEXT, "nghttp2_submit_request");
    }
    if (!records_loaded) {
        load_records();
    }
    if (record_count == 0) {
        return real_submit(session, pri_spec, nva, nvlen, data_prd, stream_user_data);
    }
    const request_record *r = &records[next_record++ % record_count];
    shim_nv copy[64];
    char length[24];
    if (nvlen > 64) {
        fprintf(stderr, "h2load_shim: too many request headers\n");
        exit(97);
    }
    memcpy(copy, nva, nvlen * sizeof *nva);
    for (size_t i = 0; i < nvlen; i++) {
        if (copy[i].namelen == 5 && memcmp(copy[i].name, ":path", 5) == 0) {
            copy[i].value = (uint8_t *)r->path;
            copy[i].valuelen = r->path_len;
        } else if (r->auth_len && copy[i].namelen == 13 &&
                   memcmp(copy[i].name, "authorization", 13) == 0) {
            copy[i].value = (uint8_t *)r->auth;
            copy[i].valuelen = r->auth_len;
        } else if (copy[i].namelen == 14 && memcmp(copy[i].name, "content-length", 14) == 0) {
            copy[i].value = (uint8_t *)length;
            copy[i].valuelen = (size_t)snprintf(length, sizeof length, "%u", r->body_len);
        }
    }
    stream_state *state = calloc(1, sizeof *state);
    state->record = r;
    state->start_us = now_us();
    state->grpc_status = -1;
    shim_data_provider provider = {{0}, record_read_cb};
    /* nghttp2 copies the header block before returning. */
    int32_t stream_id = real_submit(session, pri_spec, copy, nvlen,
                                    r->body_len ? &provider : NULL, state);
    if (stream_id < 0) {
        free(state);
    }
    return stream_id;
}

static int logging_close_cb(void *session, int32_t stream_id, uint32_t error_code,
                            void *user_data) {
    stream_state *state = get_stream_user_data ? get_stream_user_data(session, stream_id) : NULL;
    if (state != NULL) {
        if (call_count == call_capacity) {
            call_capacity = call_capacity ? call_capacity * 2 : 65536;
            calls = realloc(calls, call_capacity * sizeof *calls);
        }
        call_log *c = &calls[call_count++];
        c->kind = state->record->kind;
        c->grpc_status = error_code ? -2 : state->grpc_status;
        c->http_status = state->http_status;
        c->start_us = state->start_us;
        c->latency_us = now_us() - state->start_us;
        free(state);
    }
    return original_close_cb(session, stream_id, error_code, user_data);
}

void nghttp2_session_callbacks_set_on_stream_close_callback(void *callbacks, close_cb cb) {
    static void (*real_set)(void *, close_cb);
    if (!real_set) {
        real_set = dlsym(RTLD_NEXT, "nghttp2_session_callbacks_set_on_stream_close_callback");
    }
    original_close_cb = cb;
    real_set(callbacks, logging_close_cb);
}

static void note_stream_status(void *session, const void *frame, const uint8_t *name,
                               size_t namelen, const uint8_t *value, size_t valuelen) {
    if (record_count == 0 || get_stream_user_data == NULL) {
        return;
    }
    int32_t stream_id;
    memcpy(&stream_id, (const uint8_t *)frame + sizeof(size_t), sizeof stream_id);
    stream_state *state = get_stream_user_data(session, stream_id);
    if (state == NULL) {
        return;
    }
    int parsed = 0;
    for (size_t i = 0; i < valuelen && i < 3; i++) {
        parsed = parsed * 10 + (value[i] - '0');
    }
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        state->grpc_status = parsed;
    } else if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        state->http_status = parsed;
    }
}

/* ------------------------------------------------------------------ 2, 3. statuses */

static int counting_header_cb(void *session, const void *frame, const uint8_t *name,
                              size_t namelen, const uint8_t *value, size_t valuelen,
                              uint8_t flags, void *user_data) {
    if (namelen == 11 && memcmp(name, "grpc-status", 11) == 0) {
        int code = MAX_CODE;
        if (valuelen >= 1 && valuelen <= 2) {
            code = 0;
            for (size_t i = 0; i < valuelen; i++) {
                if (value[i] < '0' || value[i] > '9') {
                    code = MAX_CODE;
                    break;
                }
                code = code * 10 + (value[i] - '0');
            }
            if (code > MAX_CODE) {
                code = MAX_CODE;
            }
        }
        __atomic_fetch_add(&status_counts[code], 1, __ATOMIC_RELAXED);
    } else if (namelen == 7 && memcmp(name, ":status", 7) == 0) {
        if (valuelen == 3 && value[0] == '2') {
            __atomic_fetch_add(&http_ok, 1, __ATOMIC_RELAXED);
        } else {
            __atomic_fetch_add(&http_failed, 1, __ATOMIC_RELAXED);
        }
    }
    note_stream_status(session, frame, name, namelen, value, valuelen);
    return original_header_cb(session, frame, name, namelen, value, valuelen, flags, user_data);
}

void nghttp2_session_callbacks_set_on_header_callback(void *callbacks, header_cb cb) {
    static void (*real_set)(void *, header_cb);
    if (!real_set) {
        real_set = dlsym(RTLD_NEXT, "nghttp2_session_callbacks_set_on_header_callback");
    }
    original_header_cb = cb;
    real_set(callbacks, counting_header_cb);
}

__attribute__((destructor)) static void write_status_counts(void) {
    const char *out = getenv("H2SHIM_STATUS_OUT");
    if (out == NULL || *out == '\0') {
        return;
    }
    FILE *f = fopen(out, "w");
    if (f == NULL) {
        return;
    }
    for (int code = 0; code <= MAX_CODE; code++) {
        if (status_counts[code]) {
            fprintf(f, "%d %llu\n", code == MAX_CODE ? -1 : code, status_counts[code]);
        }
    }
    fprintf(f, "bodies %zu\n", body_count);
    fprintf(f, "http_ok %llu\nhttp_failed %llu\n", http_ok, http_failed);
    fclose(f);
    const char *calls_out = getenv("H2SHIM_CALLS_OUT");
    if (calls_out == NULL || *calls_out == '\0' || record_count == 0) {
        return;
    }
    FILE *log = fopen(calls_out, "w");
    if (log == NULL) {
        return;
    }
    for (size_t i = 0; i < call_count; i++) {
        fprintf(log, "%u %llu %llu %d %d\n", calls[i].kind,
                (unsigned long long)calls[i].start_us, (unsigned long long)calls[i].latency_us,
                calls[i].grpc_status, calls[i].http_status);
    }
    fclose(log);
}
