"""The benchmarks import the test services by this name: they live in tests/support/services.py."""

from tests.support.services import Nginx, Postgres, RedisCluster, RedisServer

__all__ = ["Nginx", "Postgres", "RedisCluster", "RedisServer"]
