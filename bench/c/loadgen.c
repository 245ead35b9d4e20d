/* A small HTTP/1.1 load generator for the daemon's unix socket, in C so that the load costs little of the two
 * cores it shares with the daemon (vegeta, the Go tool, used about 0.3 core at 1,000 req/s here).
 *
 *   loadgen SOCKET REQUEST_FILE CONNECTIONS RATE SECONDS
 *
 * REQUEST_FILE holds one complete request (headers and body), sent as is over keep-alive connections, one
 * request in flight per connection. RATE 0 is a closed loop (each connection sends again as soon as its reply is
 * complete). RATE > 0 is an open loop: request i is due at start + i/RATE and its latency is counted from that
 * moment, not from when a connection was free to send it (no coordinated omission, as in wrk2). Prints one JSON
 * object: counts, achieved rate, and latency percentiles in ms. Any status but 200 counts as an error. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNS 1024
#define BUF 65536

typedef struct {
  int fd;
  int busy;
  double due; /* when the request in flight was due (open loop) or sent (closed loop) */
  size_t have;
  char buf[BUF];
} conn_t;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void die(const char *what) {
  perror(what);
  exit(2);
}

static char *request;
static size_t request_len;
static double *lat;
static long nlat, cap_lat, errors, sent;

static void record(double ms) {
  if (nlat == cap_lat) {
    cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
    lat = realloc(lat, cap_lat * sizeof *lat);
    if (!lat) die("realloc");
  }
  lat[nlat++] = ms;
}

static void send_on(conn_t *c, double due) {
  size_t off = 0;
  while (off < request_len) {
    ssize_t n = write(c->fd, request + off, request_len - off);
    if (n < 0) {
      if (errno == EAGAIN || errno == EINTR) continue;
      die("write");
    }
    off += (size_t)n;
  }
  c->busy = 1;
  c->due = due;
  c->have = 0;
  sent++;
}

/* A complete response in c->buf? Returns its length, 0 if incomplete. Sets *status. */
static size_t complete(conn_t *c, int *status) {
  c->buf[c->have < BUF ? c->have : BUF - 1] = 0;
  char *end = strstr(c->buf, "\r\n\r\n");
  if (!end) return 0;
  size_t head = (size_t)(end - c->buf) + 4;
  long body = 0;
  for (char *p = c->buf; p && p < end; p = strstr(p, "\r\n")) {
    if (*p == '\r') p += 2;
    if (strncasecmp(p, "content-length:", 15) == 0) body = strtol(p + 15, NULL, 10);
  }
  if (c->have < head + (size_t)body) return 0;
  *status = atoi(c->buf + 9);
  return head + (size_t)body;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: loadgen SOCKET REQUEST_FILE CONNECTIONS RATE SECONDS\n");
    return 2;
  }
  int nconn = atoi(argv[3]);
  double rate = atof(argv[4]), seconds = atof(argv[5]);
  if (nconn < 1 || nconn > MAX_CONNS || rate < 0 || seconds <= 0) {
    fprintf(stderr, "loadgen: bad CONNECTIONS, RATE or SECONDS\n");
    return 2;
  }
  FILE *f = fopen(argv[2], "rb");
  if (!f) die(argv[2]);
  request = malloc(BUF);
  request_len = fread(request, 1, BUF, f);
  fclose(f);

  int ep = epoll_create1(0);
  conn_t *conns = calloc((size_t)nconn, sizeof *conns);
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  strncpy(addr.sun_path, argv[1], sizeof addr.sun_path - 1);
  for (int i = 0; i < nconn; i++) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) die("connect");
    conns[i].fd = fd;
    struct epoll_event ev = {.events = EPOLLIN, .data.ptr = &conns[i]};
    epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
  }

  double start = now(), stop = start + seconds;
  long due_index = 0; /* open loop: requests due so far */
  long backlog = 0;   /* due but not yet sent (every connection busy) */
  double *backlog_due = malloc(sizeof(double) * (size_t)(rate * seconds + 16));
  long backlog_head = 0;
  if (rate == 0)
    for (int i = 0; i < nconn; i++) send_on(&conns[i], now());

  struct epoll_event events[MAX_CONNS];
  for (;;) {
    double t = now();
    if (rate > 0) {
      /* Queue every request that has come due, then hand them to idle connections. */
      while (t < stop && start + due_index / rate <= t) backlog_due[backlog_head + backlog++] = start + due_index++ / rate;
      for (int i = 0; i < nconn && backlog; i++)
        if (!conns[i].busy) send_on(&conns[i], backlog_due[backlog_head++]), backlog--;
    }
    int inflight = 0;
    for (int i = 0; i < nconn; i++) inflight += conns[i].busy;
    if (t >= stop && inflight == 0 && backlog == 0) break;
    if (t >= stop + 30) {
      fprintf(stderr, "loadgen: %d replies still missing 30 s after the end\n", inflight);
      errors += inflight;
      break;
    }
    /* Sleep until the next request is due (nanosecond timeout: millisecond rounding would delay sends). */
    double wait = 0.1;
    if (rate > 0 && t < stop) {
      wait = start + due_index / rate - t;
      if (wait < 0) wait = 0;
    }
    struct timespec timeout = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (time_t)wait) * 1e9)};
    int n = epoll_pwait2(ep, events, MAX_CONNS, &timeout, NULL);
    if (n < 0 && errno != EINTR) die("epoll_pwait2");
    for (int k = 0; k < n; k++) {
      conn_t *c = events[k].data.ptr;
      ssize_t r = read(c->fd, c->buf + c->have, BUF - 1 - c->have);
      if (r <= 0) {
        if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        fprintf(stderr, "loadgen: the server closed a connection\n");
        return 1;
      }
      c->have += (size_t)r;
      int status = 0;
      if (!c->busy || !complete(c, &status)) continue;
      double done = now();
      if (status == 200) record((done - c->due) * 1000);
      else errors++;
      c->busy = 0;
      if (rate == 0 && done < stop) send_on(c, done);
    }
  }
  double elapsed = now() - start;
  qsort(lat, (size_t)nlat, sizeof *lat, cmp);
#define P(q) (nlat ? lat[(long)((q) * (nlat - 1))] : 0)
  printf("{\"sent\":%ld,\"ok\":%ld,\"errors\":%ld,\"seconds\":%.3f,\"rate\":%.1f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,\"p99_ms\":%.3f,\"p999_ms\":%.3f,\"max_ms\":%.3f}\n",
         sent, nlat, errors, elapsed, nlat / elapsed, P(0.5), P(0.9), P(0.99), P(0.999), nlat ? lat[nlat - 1] : 0);
  return errors ? 1 : 0;
}
