"""A tiny Ray job: fans work out to tasks on the cluster and prints a JSON summary.

Run by hand: ray job submit --address http://localhost:8265 --working-dir jobs/ray -- \
    python cluster_check.py --tasks 8
"""

import argparse
import json
import socket

import ray


@ray.remote
def square(value: int) -> tuple[int, str]:
    return value * value, socket.gethostname()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=8)
    args = parser.parse_args()
    ray.init()
    results = ray.get([square.remote(i) for i in range(args.tasks)])
    print(
        json.dumps(
            {
                "sum_of_squares": sum(value for value, _ in results),
                "tasks": len(results),
                "cluster_cpus": ray.cluster_resources().get("CPU"),
            }
        )
    )


if __name__ == "__main__":
    main()
