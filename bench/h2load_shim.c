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
}
