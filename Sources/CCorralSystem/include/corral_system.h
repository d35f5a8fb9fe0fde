/* CorralSystem's C shim: the Linux calls Swift's Glibc module does not declare (epoll, signalfd,
 * timerfd, eventfd and xattr headers are not in it; accept4 and struct ucred need _GNU_SOURCE),
 * compiled by the C compiler so struct layouts come from the system headers, not from offsets
 * written in Swift. Only Sources/CorralSystem may use this module.
 *
 * Every call returns what the libc call returns (-1 with errno set on failure). */
#ifndef CORRAL_SYSTEM_H
#define CORRAL_SYSTEM_H
#include <stddef.h>
#include <stdint.h>

/* epoll(7). Results are read from an opaque buffer of `corral_epoll_event_size()`-byte entries. */
int corral_epoll_create(void);                                   /* EPOLL_CLOEXEC */
int corral_epoll_add(int epfd, int fd, uint32_t events, uint64_t data);
int corral_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data);
int corral_epoll_remove(int epfd, int fd);
int corral_epoll_wait(int epfd, void *events, int max_events, int timeout_ms);
size_t corral_epoll_event_size(void);
uint32_t corral_epoll_event_events(const void *events, int index);
uint64_t corral_epoll_event_data(const void *events, int index);

extern const uint32_t corral_epollin, corral_epollout, corral_epollerr, corral_epollhup, corral_epollrdhup;

/* signalfd(2) with SFD_NONBLOCK | SFD_CLOEXEC for `count` signals (existing_fd -1: a new fd). */
int corral_signalfd(int existing_fd, const int *signals, int count);

/* The fields of struct signalfd_siginfo Corral reads. */
struct corral_signal_info {
	int32_t signal;
	int32_t sender_pid;
	uint32_t sender_uid;
};

/* Reads up to `max` pending signals from a non-blocking signalfd: the number read (0 when none
 * is pending), or -1 with errno. */
int corral_signalfd_read(int fd, struct corral_signal_info *out, int max);

/* timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); timerfd_settime relative. */
int corral_timerfd_create(void);
int corral_timerfd_set(int fd, uint64_t initial_ns, uint64_t interval_ns);

/* eventfd(2) with EFD_NONBLOCK | EFD_CLOEXEC. */
int corral_eventfd(unsigned int initial);

/* accept4(2) with SOCK_CLOEXEC | SOCK_NONBLOCK, peer address not wanted. */
int corral_accept(int fd);

/* getsockopt(SO_PEERCRED). */
int corral_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid);

/* Extended attributes (<sys/xattr.h>); `long` is ssize_t (no <sys/types.h> here, so that the
 * module declares no libc types of its own). */
long corral_getxattr(const char *path, const char *name, void *value, size_t size);
long corral_listxattr(const char *path, char *list, size_t size);
int corral_setxattr(const char *path, const char *name, const void *value, size_t size);
int corral_removexattr(const char *path, const char *name);

/* setresgid(2), then setresuid(2) (both need _GNU_SOURCE); -1 with errno at the first failure. */
int corral_setresids(uint32_t ruid, uint32_t euid, uint32_t suid, uint32_t rgid, uint32_t egid, uint32_t sgid);

/* gzip (RFC 1952, zlib's inflate; concatenated members too): the decompressed bytes in *out
 * (malloc'ed, the caller frees) and their count, or -1 for data that is not gzip or is corrupt
 * or truncated (the zlib message in *message, static). */
long corral_gunzip(const void *in, size_t in_len, void **out, const char **message);

#endif
