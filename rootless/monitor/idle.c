/*
 * rootless-monitor-idle: the monitor's steady state for a detached container, in C.
 *
 * The Python monitor (supervisor.py) starts the container, then exec()s this program
 * with every fd it holds (same pid, so `ps` reconciliation by pid + start time holds).
 * This program does what Monitor.loop() + drain_outputs() do: log the container's output
 * in Docker's json-file format (byte for byte as logfile.JsonLog + jsonlite.dumps write
 * it), relay it to clients on the attach socket (protocol.py), take their stdin / resize /
 * close-stdin / cleaned messages, and reap. When the container's init has exited and its
 * output is drained, it exec()s the Python monitor again with `--resume` to record the
 * exit and apply the restart policy. Why: an interpreter is 8+ MB of RSS for the
 * container's whole life; this is a few hundred KB.
 *
 * Usage (argv built by rootless/monitor/idle.py):
 *   rootless-monitor-idle --log FD,SIZE,MAX,KEEP,PATH --listen FD --pid PID
 *       [--stdin FD] [--master FD] [--out FD,STREAM]... [--client FD]... -- RESUME_ARGV...
 *   The resume argv gets "CODE CLEANED LISTEN_FD [CLIENT_FD...]" appended.
 *   rootless-monitor-idle --encode STREAM STAMP   (test mode: stdin -> log records on stdout)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

enum { MSG_STDIN = 0, MSG_STDOUT = 1, MSG_STDERR = 2, MSG_RESIZE = 3,
       MSG_CLOSE_STDIN = 4, MSG_CLEANED = 6 };
#define MAX_MSG (32 * 1024) /* protocol.MAX_MSG: one read is at most MAX_MSG - 1 bytes */
#define MAX_OUTPUTS 4
#define MAX_CLIENTS 256

/* ---- growable byte buffer ------------------------------------------------------- */
struct buf { char *p; size_t len, cap; };

static void put(struct buf *b, const void *s, size_t n) {
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { perror("rootless-monitor-idle: realloc"); exit(70); }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Give a burst's big buffer back: idle RSS is the point of this program. */
static void shrink(struct buf *b) {
    b->len = 0;
    if (b->cap > 64 * 1024) { free(b->p); b->p = NULL; b->cap = 0; }
}

/* ---- json-file log records ------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (Python's strict decoder: no overlongs, no
 * surrogates, nothing above U+10FFFF), 0 if none starts there. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    size_t need;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0) lo = 0xA0;
        if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F;
    } else return 0;
    if (n < need || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return need;
}

/* One line as jsonlite._str(line.decode("utf-8", "surrogateescape")) encodes it. */
static void put_json_text(struct buf *b, const unsigned char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    char esc[7];
    put(b, "\"", 1);
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k = utf8_len(s + i, n - i);
        if (k == 0) { /* undecodable byte: surrogateescape's U+DC80+byte, written \udcXX */
            memcpy(esc, "\\udc", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(b, esc, 6);
            i++;
            continue;
        }
        if (k == 1) {
            if (c == '"') puts_(b, "\\\"");
            else if (c == '\\') puts_(b, "\\\\");
            else if (c == '\n') puts_(b, "\\n");
            else if (c == '\r') puts_(b, "\\r");
            else if (c == '\t') puts_(b, "\\t");
            else if (c < 0x20) {
                memcpy(esc, "\\u00", 4);
                esc[4] = hex[c >> 4];
                esc[5] = hex[c & 15];
                put(b, esc, 6);
            } else put(b, &c, 1);
        } else put(b, s + i, k); /* valid non-ASCII: copied as is */
        i += k;
    }
    put(b, "\"", 1);
}

/* JsonLog.write's blob: one record per line (bytes.splitlines(keepends=True): \n, \r,
 * \r\n), all with the same stamp. */
static void encode_chunk(struct buf *b, const char *stream, const char *stamp,
                         const unsigned char *d, size_t n) {
    size_t start = 0;
    while (start < n) {
        size_t end = start;
        while (end < n && d[end] != '\n' && d[end] != '\r') end++;
        if (end < n) {
            end += (d[end] == '\r' && end + 1 < n && d[end + 1] == '\n') ? 2 : 1;
        }
        puts_(b, "{\"log\": ");
        put_json_text(b, d + start, end - start);
        puts_(b, ", \"stream\": \"");
        puts_(b, stream);
        puts_(b, "\", \"time\": \"");
        puts_(b, stamp);
        puts_(b, "\"}\n");
        start = end;
    }
}

/* logfile.rfc3339_now(): 2026-01-02T03:04:05.123456789Z */
static void rfc3339_now(char out[40]) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%09ldZ", ts.tv_nsec);
}

struct log {
    int fd;
    long long size, max_size;
    int keep;
    const char *path;
    struct buf blob;
};

static int open_log(const char *path) {
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static void write_all(int fd, const char *p, size_t n) {
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) continue;
            return; /* disk full or the dir is gone: as JsonLog, nothing else to do */
        }
        p += w;
        n -= (size_t)w;
    }
}

/* JsonLog._rotate: ctr.log -> ctr.log.1 -> ... -> ctr.log.KEEP, then a fresh ctr.log. */
static void rotate(struct log *l) {
    char src[4096], dst[4096];
    close(l->fd);
    for (int i = l->keep; i >= 1; i--) {
        if (i == 1) snprintf(src, sizeof src, "%s", l->path);
        else snprintf(src, sizeof src, "%s.%d", l->path, i - 1);
        snprintf(dst, sizeof dst, "%s.%d", l->path, i);
        rename(src, dst); /* ENOENT: that generation does not exist yet */
    }
    l->fd = open_log(l->path);
    l->size = 0;
}

static void log_write(struct log *l, const char *stream, const unsigned char *d, size_t n) {
    char stamp[40];
    if (n == 0) return;
    rfc3339_now(stamp);
    encode_chunk(&l->blob, stream, stamp, d, n);
    long long len = (long long)l->blob.len;
    if (l->max_size && l->size + len > l->max_size && l->size > 0) rotate(l);
    if (l->fd >= 0) write_all(l->fd, l->blob.p, l->blob.len);
    l->size += len;
    shrink(&l->blob);
}

/* ---- the supervision loop ------------------------------------------------------- */
struct output { int fd; char stream[8]; int open; };

static struct log lg = { .fd = -1, .keep = 1 };
static struct output outs[MAX_OUTPUTS];
static int n_outs;
static int clients[MAX_CLIENTS];
static int n_clients;
static int lsock = -1, stdin_w = -1, master = -1, cleaned;
static pid_t cpid;
static unsigned char msg[MAX_MSG];

static void drop_client(int i) {
    close(clients[i]);
    clients[i] = clients[--n_clients];
}

static void broadcast(unsigned char kind, const unsigned char *d, size_t n) {
    msg[0] = kind;
    memmove(msg + 1, d, n);
    for (int i = n_clients - 1; i >= 0; i--) {
        if (send(clients[i], msg, n + 1, MSG_NOSIGNAL) < 0) drop_client(i);
    }
}

/* Read once: 1 data, -1 nothing buffered, 0 EOF (the fd is then closed; the pty master
 * is kept open until drain_outputs' end). */
static int read_output(struct output *o) {
    static unsigned char data[MAX_MSG - 1];
    ssize_t n = read(o->fd, data, sizeof data);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return -1;
    if (n <= 0) { /* EOF, or EIO: the pty's slave side is gone */
        o->open = 0;
        if (o->fd != master) close(o->fd);
        return 0;
    }
    log_write(&lg, o->stream, data, (size_t)n);
    broadcast(strcmp(o->stream, "stdout") == 0 ? MSG_STDOUT : MSG_STDERR, data, (size_t)n);
    return 1;
}

static void drain_outputs(void) {
    for (int i = 0; i < n_outs; i++) {
        struct output *o = &outs[i];
        while (o->open && read_output(o) == 1) {}
        if (o->open && o->fd != master) close(o->fd);
        o->open = 0;
    }
    if (master >= 0) close(master);
    if (stdin_w >= 0 && stdin_w != master) close(stdin_w);
    master = stdin_w = -1;
}

static void client_message(int fd) {
    int i = 0;
    while (i < n_clients && clients[i] != fd) i++;
    if (i == n_clients) return; /* dropped meanwhile (a failed broadcast) */
    ssize_t n = recv(fd, msg, MAX_MSG, MSG_DONTWAIT);
    if (n <= 0) {
        if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
        drop_client(i);
        return;
    }
    switch (msg[0]) {
    case MSG_STDIN:
        if (stdin_w >= 0 && write(stdin_w, msg + 1, (size_t)n - 1) < 0) { /* as Python: dropped */ }
        break;
    case MSG_RESIZE:
        if (master >= 0) {
            char text[64];
            unsigned rows, cols;
            size_t k = (size_t)n - 1 < sizeof text - 1 ? (size_t)n - 1 : sizeof text - 1;
            memcpy(text, msg + 1, k);
            text[k] = 0;
            if (sscanf(text, "%u %u", &rows, &cols) == 2) {
                struct winsize ws = { .ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols };
                ioctl(master, TIOCSWINSZ, &ws);
            }
        }
        break;
    case MSG_CLOSE_STDIN:
        if (stdin_w >= 0 && stdin_w != master) {
            close(stdin_w);
            stdin_w = -1;
        }
        break;
    case MSG_CLEANED:
        cleaned = 1;
        break;
    }
}

/* Reap every exited child (we are a subreaper); the container's exit code, else -1. */
static int reap(void) {
    int code = -1, st;
    pid_t p;
    while ((p = waitpid(-1, &st, WNOHANG)) > 0) {
        if (p == cpid) code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    }
    return code;
}

static int supervise(int sigfd) {
    struct pollfd pfd[2 + MAX_OUTPUTS + MAX_CLIENTS];
    int code = reap(); /* it may have exited before we were listening */
    while (code < 0) {
        int n = 0;
        pfd[n++] = (struct pollfd){ .fd = sigfd, .events = POLLIN };
        pfd[n++] = (struct pollfd){ .fd = lsock, .events = POLLIN };
        for (int i = 0; i < n_outs; i++) /* a closed one polls as fd -1: ignored */
            pfd[n++] = (struct pollfd){ .fd = outs[i].open ? outs[i].fd : -1, .events = POLLIN };
        int first_client = n;
        for (int i = 0; i < n_clients; i++)
            pfd[n++] = (struct pollfd){ .fd = clients[i], .events = POLLIN };
        if (poll(pfd, (nfds_t)n, -1) < 0) {
            if (errno == EINTR) continue;
            perror("rootless-monitor-idle: poll");
            exit(70);
        }
        if (pfd[0].revents) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) > 0) {}
        }
        for (int i = 0; i < n_outs; i++)
            if (pfd[2 + i].revents && outs[i].open) read_output(&outs[i]);
        /* By fd: a broadcast above or a message below may drop clients (reordering). */
        for (int i = first_client; i < n; i++)
            if (pfd[i].revents) client_message(pfd[i].fd);
        if (pfd[1].revents & POLLIN) {
            int c = accept4(lsock, NULL, NULL, SOCK_CLOEXEC);
            if (c >= 0 && n_clients < MAX_CLIENTS) clients[n_clients++] = c;
            else if (c >= 0) close(c);
        }
        code = reap();
    }
    return code;
}

/* ---- argv, hand-back ------------------------------------------------------------ */
static void usage(void) {
    fputs("usage: rootless-monitor-idle --log FD,SIZE,MAX,KEEP,PATH --listen FD --pid PID "
          "[--stdin FD] [--master FD] [--out FD,STREAM]... [--client FD]... -- ARGV...\n"
          "       rootless-monitor-idle --encode STREAM STAMP\n", stderr);
    exit(64);
}

static int encode_mode(char **argv) {
    struct buf in = { 0 }, out = { 0 };
    char chunk[65536];
    ssize_t n;
    while ((n = read(0, chunk, sizeof chunk)) > 0) put(&in, chunk, (size_t)n);
    if (in.len) encode_chunk(&out, argv[2], argv[3], (unsigned char *)in.p, in.len);
    write_all(1, out.p, out.len);
    return 0;
}

static void set_cloexec(int fd, int on) {
    int fl = fcntl(fd, F_GETFD);
    if (fl >= 0) fcntl(fd, F_SETFD, on ? (fl | FD_CLOEXEC) : (fl & ~FD_CLOEXEC));
}

int main(int argc, char **argv) {
    char **resume = NULL;
    if (argc == 4 && strcmp(argv[1], "--encode") == 0) return encode_mode(argv);
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--") == 0) { resume = argv + i + 1; break; }
        if (!v) usage();
        i++;
        if (strcmp(a, "--log") == 0) {
            int keep, off = 0;
            if (sscanf(v, "%d,%lld,%lld,%d,%n", &lg.fd, &lg.size, &lg.max_size, &keep, &off) < 4
                || !off)
                usage();
            lg.keep = keep;
            lg.path = v + off;
        } else if (strcmp(a, "--listen") == 0) lsock = atoi(v);
        else if (strcmp(a, "--pid") == 0) cpid = atoi(v);
        else if (strcmp(a, "--stdin") == 0) stdin_w = atoi(v);
        else if (strcmp(a, "--master") == 0) master = atoi(v);
        else if (strcmp(a, "--client") == 0 && n_clients < MAX_CLIENTS) clients[n_clients++] = atoi(v);
        else if (strcmp(a, "--out") == 0 && n_outs < MAX_OUTPUTS) {
            struct output *o = &outs[n_outs++];
            if (sscanf(v, "%d,%7s", &o->fd, o->stream) != 2) usage();
            o->open = 1;
        } else usage();
    }
    if (!resume || !resume[0] || lsock < 0 || cpid <= 0 || lg.fd < 0 || !lg.path) usage();

    /* Nothing we hold goes back to Python but the socket and the clients. */
    set_cloexec(lg.fd, 1);
    for (int i = 0; i < n_outs; i++) set_cloexec(outs[i].fd, 1);
    if (stdin_w >= 0) set_cloexec(stdin_w, 1);
    if (master >= 0) set_cloexec(master, 1);
    for (int i = 0; i < n_clients; i++) set_cloexec(clients[i], 1);
    set_cloexec(lsock, 1);
    /* Kept across execve already; set again so this never depends on it. */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);

    sigset_t chld, old;
    sigemptyset(&chld);
    sigaddset(&chld, SIGCHLD);
    sigprocmask(SIG_BLOCK, &chld, &old);
    int sigfd = signalfd(-1, &chld, SFD_NONBLOCK | SFD_CLOEXEC);
    if (sigfd < 0) {
        perror("rootless-monitor-idle: signalfd");
        return 70;
    }

    int code = supervise(sigfd);
    drain_outputs();
    if (lg.fd >= 0) close(lg.fd);
    close(sigfd);
    sigprocmask(SIG_SETMASK, &old, NULL);

    /* Back to Python: RESUME_ARGV CODE CLEANED LISTEN_FD CLIENT_FD... */
    int nres = 0;
    while (resume[nres]) nres++;
    char **av = calloc((size_t)(nres + 4 + n_clients), sizeof *av);
    char nums[3 + MAX_CLIENTS][16];
    if (!av) return 70;
    for (int i = 0; i < nres; i++) av[i] = resume[i];
    snprintf(nums[0], 16, "%d", code);
    snprintf(nums[1], 16, "%d", cleaned);
    snprintf(nums[2], 16, "%d", lsock);
    av[nres] = nums[0];
    av[nres + 1] = nums[1];
    av[nres + 2] = nums[2];
    set_cloexec(lsock, 0);
    for (int i = 0; i < n_clients; i++) {
        snprintf(nums[3 + i], 16, "%d", clients[i]);
        av[nres + 3 + i] = nums[3 + i];
        set_cloexec(clients[i], 0);
    }
    execv(av[0], av);
    perror("rootless-monitor-idle: exec of the Python monitor failed");
    return 70;
}
