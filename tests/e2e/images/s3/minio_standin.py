"""MinIO's command line in front of moto's S3 server: ``[minio] server DIR... [--address
[HOST]:PORT] [--console-address ADDR]`` serves the S3 API on HOST:PORT (default :9000).

Objects live in memory (DIR is accepted and not used); every request is accepted whatever its
credentials, which is all the stack test asks of the store.
"""

from __future__ import annotations

import argparse
import sys

from moto.server import main as moto_main


def main(argv: list[str]) -> None:
    if argv and argv[0] == "minio":
        argv = argv[1:]
    parser = argparse.ArgumentParser(prog="minio")
    parser.add_argument("command", choices=["server"])
    parser.add_argument("dirs", nargs="+")
    parser.add_argument("--address", default=":9000")
    parser.add_argument("--console-address", default="")
    args = parser.parse_args(argv)
    host, _, port = args.address.rpartition(":")
    print(f"S3 API (moto) on {host or '0.0.0.0'}:{port}; {' '.join(args.dirs)} not used")
    moto_main(["-H", host or "0.0.0.0", "-p", port])


if __name__ == "__main__":
    main(sys.argv[1:])
