/* Two costs of this machine that set the daemon's latency floor, printed as one JSON object:
 * - fdatasync after appending 400 bytes (an audit line) to a file, p50 and p99 over 1,000 appends;
 * - the round trip of waking a thread and being woken back (eventfd ping-pong between two threads), which is
 *   what each hand-off between the daemon's event loop, signing thread and fsync pool costs.
 *   machine FILE_IN_THE_FILESYSTEM_TO_TEST */
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static int ping, pong;
#define ROUNDS 20000

static void *echo(void *arg) {
  (void)arg;
  uint64_t v;
  for (int i = 0; i < ROUNDS; i++)
    if (read(ping, &v, 8) != 8 || write(pong, &v, 8) != 8) exit(2);
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: machine FILE\n");
    return 2;
  }
  static double t[1000];
  char line[400] = {'x'};
  int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
  if (fd < 0) return perror(argv[1]), 2;
  for (int i = 0; i < 1000; i++) {
    if (write(fd, line, sizeof line) != sizeof line) return perror("write"), 2;
    double s = now_us();
    if (fdatasync(fd) != 0) return perror("fdatasync"), 2;
    t[i] = now_us() - s;
  }
  close(fd);
  unlink(argv[1]);
  qsort(t, 1000, sizeof t[0], cmp);

  ping = eventfd(0, 0);
  pong = eventfd(0, 0);
  pthread_t th;
  pthread_create(&th, NULL, echo, NULL);
  uint64_t v = 1;
  double s = now_us();
  for (int i = 0; i < ROUNDS; i++)
    if (write(ping, &v, 8) != 8 || read(pong, &v, 8) != 8) return 2;
  double round_trip = (now_us() - s) / ROUNDS;
  pthread_join(th, NULL);
  printf("{\"fdatasync_p50_ms\":%.3f,\"fdatasync_p99_ms\":%.3f,\"wake_round_trip_us\":%.1f}\n", t[500] / 1000, t[990] / 1000, round_trip);
  return 0;
}
