"""An in-process Kafka broker: librdkafka's mock cluster, spoken to over the real protocol.

confluent-kafka ships librdkafka, whose mock cluster is a small Kafka broker on localhost.
Its CreateTopics handling cannot be reached by kafka-python (the mock advertises a
controller id that no broker has), so topics are created through librdkafka's own mock
API (`rd_kafka_mock_topic_create`) with ctypes. Clients (kafka-python) must pin the
protocol to 2.3: the mock answers ApiVersions v3+ with a v0-shaped error that kafka-python
cannot decode (LOCAL_KAFKA_API_VERSION; the functions read it from KAFKA_API_VERSION).
"""
from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Optional

LOCAL_KAFKA_API_VERSION = "2.3"
_RD_KAFKA_PRODUCER = 0
_lib_lock = threading.Lock()
_lib: Optional[ctypes.CDLL] = None


def _librdkafka() -> ctypes.CDLL:
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        import confluent_kafka

        pkg = os.path.dirname(confluent_kafka.__file__)
        candidates = sorted(glob.glob(os.path.join(pkg, "..", "confluent_kafka.libs", "librdkafka*.so*")))
        candidates += sorted(glob.glob(os.path.join(pkg, ".dylibs", "librdkafka*.dylib")))
        if not candidates:
            raise RuntimeError("librdkafka from confluent-kafka not found; is confluent-kafka installed from a wheel?")
        lib = ctypes.CDLL(candidates[0])
        lib.rd_kafka_conf_new.restype = ctypes.c_void_p
        lib.rd_kafka_conf_set.restype = ctypes.c_int
        lib.rd_kafka_conf_set.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_new.restype = ctypes.c_void_p
        lib.rd_kafka_new.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.rd_kafka_destroy.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_cluster_new.restype = ctypes.c_void_p
        lib.rd_kafka_mock_cluster_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.rd_kafka_mock_cluster_destroy.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_cluster_bootstraps.restype = ctypes.c_char_p
        lib.rd_kafka_mock_cluster_bootstraps.argtypes = [ctypes.c_void_p]
        lib.rd_kafka_mock_topic_create.restype = ctypes.c_int
        lib.rd_kafka_mock_topic_create.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
        _lib = lib
        return lib


class MockKafkaCluster:
    """A librdkafka mock cluster. Use as a context manager or call start()/stop().

    >>> with MockKafkaCluster() as kafka:
    ...     kafka.create_topic("objects", partitions=4)
    ...     kafka.bootstrap_servers   # "127.0.0.1:PORT"
    """

    def __init__(self, num_brokers: int = 1):
        self.num_brokers = num_brokers
        self._rk: Optional[int] = None
        self._cluster: Optional[int] = None
        self.bootstrap_servers: str = ""

    def start(self) -> str:
        """Start the brokers; return the bootstrap address ("host:port[,host:port]")."""
        if self._cluster is not None:
            return self.bootstrap_servers
        lib = _librdkafka()
        errstr = ctypes.create_string_buffer(512)
        conf = lib.rd_kafka_conf_new()
        # The owning handle never connects anywhere; keep its "no bootstrap.servers" notice quiet.
        lib.rd_kafka_conf_set(conf, b"log_level", b"3", errstr, len(errstr))
        rk = lib.rd_kafka_new(_RD_KAFKA_PRODUCER, conf, errstr, len(errstr))
        if not rk:
            raise RuntimeError(f"rd_kafka_new failed: {errstr.value.decode()}")
        cluster = lib.rd_kafka_mock_cluster_new(rk, self.num_brokers)
        if not cluster:
            lib.rd_kafka_destroy(rk)
            raise RuntimeError("rd_kafka_mock_cluster_new failed")
        self._rk, self._cluster = rk, cluster
        self.bootstrap_servers = lib.rd_kafka_mock_cluster_bootstraps(cluster).decode()
        return self.bootstrap_servers

    def create_topic(self, name: str, partitions: int = 1, replication_factor: int = 1) -> None:
        """Create a topic with `partitions` partitions. Raises RuntimeError if the mock refuses."""
        if self._cluster is None:
            raise RuntimeError("start() the cluster first")
        err = _librdkafka().rd_kafka_mock_topic_create(
            self._cluster, name.encode(), partitions, min(replication_factor, self.num_brokers)
        )
        if err != 0:
            raise RuntimeError(f"rd_kafka_mock_topic_create({name!r}, {partitions}) failed with error {err}")

    def stop(self) -> None:
        lib = _librdkafka()
        if self._cluster is not None:
            lib.rd_kafka_mock_cluster_destroy(self._cluster)
            self._cluster = None
        if self._rk is not None:
            lib.rd_kafka_destroy(self._rk)
            self._rk = None

    def __enter__(self) -> MockKafkaCluster:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_kafka(topic: str, partitions: int = 4, num_brokers: int = 1) -> MockKafkaCluster:
    """Start a mock cluster with `topic` created; stop it with `.stop()`."""
    cluster = MockKafkaCluster(num_brokers)
    cluster.start()
    cluster.create_topic(topic, partitions)
    return cluster
