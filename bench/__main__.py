"""``make bench``: every benchmark, each reporting ratios measured in the same run."""

from __future__ import annotations

from bench import cold_start


def main() -> None:
    print("== cold start ==")
    cold_start.main()


if __name__ == "__main__":
    main()
