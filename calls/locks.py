"""A Redis lock so only one sync cycle runs at a time across every worker.

The lock has a timeout: if the worker holding it dies (SIGKILL, power loss), the lock
expires by itself and the next cycle runs.
"""

import logging

import redis
from django.conf import settings
from redis.lock import Lock

log = logging.getLogger(__name__)

SYNC_LOCK_NAME = "calls:sync-cycle"


_clients: dict[str, redis.Redis] = {}


def redis_client() -> redis.Redis:
    """The process's Redis client for REDIS_URL: one connection pool, reused (redis-py
    pools notice a fork and start afresh in the child)."""
    url = settings.REDIS_URL
    client = _clients.get(url)
    if client is None:
        client = redis.Redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
        _clients[url] = client
    return client


def try_acquire(name: str, timeout: float) -> Lock | None:
    """The lock if it was free, else None at once. Raises redis.RedisError if Redis is down."""
    lock = redis_client().lock(name, timeout=timeout, blocking=False)
    return lock if lock.acquire(blocking=False) else None


def release(lock: Lock) -> None:
    try:
        lock.release()
    except redis.exceptions.LockError:
        log.warning("The sync lock had expired before the cycle finished")
    except redis.RedisError as exc:
        log.warning("Could not release the sync lock (%s); it will expire", type(exc).__name__)
