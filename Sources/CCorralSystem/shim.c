/* See include/corral_system.h. */
#define _GNU_SOURCE
#include "corral_system.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <zlib.h>

int corral_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static int epoll_control(int epfd, int op, int fd, uint32_t events, uint64_t data) {
	struct epoll_event ev;
	memset(&ev, 0, sizeof(ev));
	ev.events = events;
	ev.data.u64 = data;
	return epoll_ctl(epfd, op, fd, &ev);
}

int corral_epoll_add(int epfd, int fd, uint32_t events, uint64_t data) {
	return epoll_control(epfd, EPOLL_CTL_ADD, fd, events, data);
}

int corral_epoll_modify(int epfd, int fd, uint32_t events, uint64_t data) {
	return epoll_control(epfd, EPOLL_CTL_MOD, fd, events, data);
}

int corral_epoll_remove(int epfd, int fd) { return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL); }

int corral_epoll_wait(int epfd, void *events, int max_events, int timeout_ms) {
	return epoll_wait(epfd, (struct epoll_event *)events, max_events, timeout_ms);
}

size_t corral_epoll_event_size(void) { return sizeof(struct epoll_event); }

uint32_t corral_epoll_event_events(const void *events, int index) {
	return ((const struct epoll_event *)events)[index].events;
}

uint64_t corral_epoll_event_data(const void *events, int index) {
	return ((const struct epoll_event *)events)[index].data.u64;
}

const uint32_t corral_epollin = EPOLLIN, corral_epollout = EPOLLOUT, corral_epollerr = EPOLLERR,
	       corral_epollhup = EPOLLHUP, corral_epollrdhup = EPOLLRDHUP;

int corral_signalfd(int existing_fd, const int *signals, int count) {
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < count; i++)
		sigaddset(&set, signals[i]);
	return signalfd(existing_fd, &set, SFD_NONBLOCK | SFD_CLOEXEC);
}

int corral_signalfd_read(int fd, struct corral_signal_info *out, int max) {
	struct signalfd_siginfo info[16];
	int got = 0;
	while (got < max) {
		size_t want = (size_t)(max - got) < 16 ? (size_t)(max - got) : 16;
		ssize_t n = read(fd, info, want * sizeof(info[0]));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			return got > 0 ? got : -1;
		}
		if (n == 0)
			break;
		for (size_t i = 0; i < (size_t)n / sizeof(info[0]); i++) {
			out[got].signal = (int32_t)info[i].ssi_signo;
			out[got].sender_pid = (int32_t)info[i].ssi_pid;
			out[got].sender_uid = info[i].ssi_uid;
			got++;
		}
	}
	return got;
}

int corral_timerfd_create(void) { return timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC); }

int corral_timerfd_set(int fd, uint64_t initial_ns, uint64_t interval_ns) {
	struct itimerspec spec;
	spec.it_value.tv_sec = (time_t)(initial_ns / 1000000000u);
	spec.it_value.tv_nsec = (long)(initial_ns % 1000000000u);
	spec.it_interval.tv_sec = (time_t)(interval_ns / 1000000000u);
	spec.it_interval.tv_nsec = (long)(interval_ns % 1000000000u);
	return timerfd_settime(fd, 0, &spec, NULL);
}

int corral_eventfd(unsigned int initial) { return eventfd(initial, EFD_NONBLOCK | EFD_CLOEXEC); }

int corral_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }

int corral_peer_credentials(int fd, int32_t *pid, uint32_t *uid, uint32_t *gid) {
	struct ucred cred;
	socklen_t length = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) != 0)
		return -1;
	if (length != sizeof(cred)) {
		errno = EINVAL;
		return -1;
	}
	*pid = cred.pid;
	*uid = cred.uid;
	*gid = cred.gid;
	return 0;
}

long corral_getxattr(const char *path, const char *name, void *value, size_t size) {
	return getxattr(path, name, value, size);
}

long corral_listxattr(const char *path, char *list, size_t size) { return listxattr(path, list, size); }

int corral_setxattr(const char *path, const char *name, const void *value, size_t size) {
	return setxattr(path, name, value, size, 0);
}

int corral_removexattr(const char *path, const char *name) { return removexattr(path, name); }

int corral_setresids(uint32_t ruid, uint32_t euid, uint32_t suid, uint32_t rgid, uint32_t egid, uint32_t sgid)
{
	if (setresgid(rgid, egid, sgid))
		return -1;
	return setresuid(ruid, euid, suid);
}

long corral_gunzip(const void *in, size_t in_len, void **out, const char **message)
{
	z_stream zs;
	size_t cap = in_len * 4 + 4096, len = 0;
	unsigned char *buf = malloc(cap);
	int rc;

	*out = NULL;
	*message = "out of memory";
	if (!buf)
		return -1;
	memset(&zs, 0, sizeof(zs));
	if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
		free(buf);
		return -1;
	}
	zs.next_in = (unsigned char *)in;
	zs.avail_in = (uInt)in_len;
	for (;;) {
		if (len == cap) {
			unsigned char *bigger = realloc(buf, cap * 2);
			if (!bigger) {
				rc = Z_MEM_ERROR;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
		zs.next_out = buf + len;
		zs.avail_out = (uInt)(cap - len);
		rc = inflate(&zs, Z_NO_FLUSH);
		len = cap - zs.avail_out;
		if (rc == Z_STREAM_END && zs.avail_in == 0)
			break;
		if (rc == Z_STREAM_END) {
			inflateReset(&zs); /* another gzip member follows */
			continue;
		}
		if (rc == Z_BUF_ERROR && zs.avail_in == 0 && zs.avail_out > 0)
			break; /* the input ended inside a member */
		if (rc != Z_OK && rc != Z_BUF_ERROR)
			break;
	}
	if (rc != Z_STREAM_END) {
		*message = rc == Z_MEM_ERROR ? "out of memory"
			 : rc == Z_BUF_ERROR ? "truncated gzip data"
			 : zs.msg ? zs.msg : "not gzip data";
		inflateEnd(&zs);
		free(buf);
		return -1;
	}
	inflateEnd(&zs);
	*out = buf;
	*message = NULL;
	return (long)len;
}
