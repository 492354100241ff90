"""Start one embedded Milvus 2.3.5 standalone server (PyPI `milvus`) with explicit ports and data dir.

Run by scripts/milvus (not by hand). Every port is explicit: the wrapper would otherwise silently move to the
next free port. Components register themselves on 127.0.0.1. Stops its server child on SIGINT or SIGTERM.
"""
import argparse
import os
import signal
import socket
import sys
import time

from milvus import MilvusServer, MilvusServerConfig


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", required=True)
    parser.add_argument("--port", type=int, required=True, help="gRPC proxy port")
    parser.add_argument("--metrics-port", type=int, required=True, help="healthz/metrics HTTP port")
    parser.add_argument("--etcd-port", type=int, required=True)
    parser.add_argument("--port-base", type=int, required=True,
                        help="first of 8 consecutive ports for the internal components")
    parser.add_argument("--extra", action="append", default=[], help="key=value Milvus config override")
    parser.add_argument("--auth", action="store_true", help="enable authentication (user root, password Milvus)")
    parser.add_argument("--tls-dir", help="one-way TLS with server.pem, server.key and ca.pem from this folder")
    args = parser.parse_args()

    config = MilvusServerConfig()

    # The wrapper test-binds each port without SO_REUSEADDR, so a port whose last connections sit in TIME_WAIT
    # (our own health checks of a previous server) looks taken and it silently moves to another port. Milvus
    # itself binds with SO_REUSEADDR; test the same way.
    def try_bind_port(port):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
            return sock
        except OSError:
            sock.close()
            return None

    config.try_bind_port = try_bind_port

    # The embedded etcd listens on its defaults (clients 2379, peers 2380) unless given a config file, whatever
    # the client port in the endpoints: write one so that every port is ours and two servers can coexist.
    etcd_conf = os.path.join(os.path.abspath(args.data), "embed-etcd.yaml")
    peer = args.etcd_port + 1
    original_write_config = config.write_config

    def write_config():
        original_write_config()
        os.makedirs(os.path.dirname(etcd_conf), exist_ok=True)
        with open(etcd_conf, "w", encoding="utf-8") as f:
            f.write(
                "name: milvusdm-etcd\n"
                f"listen-client-urls: http://127.0.0.1:{args.etcd_port}\n"
                f"advertise-client-urls: http://127.0.0.1:{args.etcd_port}\n"
                f"listen-peer-urls: http://127.0.0.1:{peer}\n"
                f"initial-advertise-peer-urls: http://127.0.0.1:{peer}\n"
                f"initial-cluster: milvusdm-etcd=http://127.0.0.1:{peer}\n"
            )
        path = os.path.join(config.base_data_dir, "configs", "milvus.yaml")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        text = text.replace("\netcd:\n", f"\netcd:\n  config:\n    path: {etcd_conf}\n", 1)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    config.write_config = write_config
    server = MilvusServer(config, wait_for_started=False)
    server.set_base_dir(os.path.abspath(args.data))
    b = args.port_base
    ports = {
        "proxy_port": args.port,
        "etcd_port": args.etcd_port,
        "proxy_internal_port": b,
        "root_coord_port": b + 1,
        "query_coord_port": b + 2,
        "query_node_port": b + 3,
        "index_coord_port": b + 4,
        "index_node_port": b + 5,
        "data_coord_port": b + 6,
        "data_node_port": b + 7,
    }
    for key, value in ports.items():
        config.set(key, value)
    for section in ("rootCoord", "proxy", "queryCoord", "queryNode", "indexCoord", "indexNode",
                    "dataCoord", "dataNode"):
        config.set(f"{section}.ip", "127.0.0.1")
    if args.auth:
        config.set("authorization_enabled", True)
    if args.tls_dir:
        tls = os.path.abspath(args.tls_dir)
        config.set("tls_mode", 1)
        config.set("server_pem_path", os.path.join(tls, "server.pem"))
        config.set("server_key_path", os.path.join(tls, "server.key"))
        config.set("ca_pem_path", os.path.join(tls, "ca.pem"))
    for item in args.extra:
        key, value = item.split("=", 1)
        config.set(key, value)
    server.webservice_port = args.metrics_port

    stopping = {"flag": False}

    def on_signal(_sig, _frame):
        stopping["flag"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    server.start()
    if server.webservice_port != args.metrics_port:
        print(f"metrics port {args.metrics_port} is taken (server moved to {server.webservice_port})",
              file=sys.stderr)
        server.stop()
        return 3
    print(f"milvus pid {server.server_proc.pid} proxy {args.port} metrics {args.metrics_port}", flush=True)
    while not stopping["flag"] and server.server_proc.poll() is None:
        time.sleep(0.2)
    code = server.server_proc.poll()
    # Graceful: SIGINT to the server, wait up to 20 s, then kill.
    if code is None:
        server.server_proc.send_signal(signal.SIGINT)
        try:
            server.server_proc.wait(timeout=20)
        except Exception:  # noqa: BLE001
            server.server_proc.kill()
            server.server_proc.wait(timeout=5)
        server.server_proc = None
        server.stop()
        return 0
    print(f"milvus server exited with {code}", file=sys.stderr)
    return 4


if __name__ == "__main__":
    sys.exit(main())
