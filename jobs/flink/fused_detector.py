"""Fraud detection with one keyed operator per card that evaluates every rule on each event.

The same detection as fraud_cep.py (its MATCH_RECOGNIZE patterns are the specification: a
differential test holds the two to the same alerts), at a fraction of the cost: one JVM
operator (jobs/flink/fused-detector, built by Maven) keeps each card's rule state compact,
evaluates the four patterns as each event arrives and forgets idle cards in a periodic sweep.
Transactions are read and parsed once; whatever detection cannot read goes, unchanged, to the
dead-letter topic. Same arguments as fraud_cep.py, plus the jar; the thresholds given are the
rule set in force until a newer version arrives on the rules topic (see
FusedDetector.java). Run by hand:

    flink run -m localhost:8081 -d -py jobs/flink/fused_detector.py --bootstrap-servers \
        localhost:19092 --job-name fraud-fused --detector-jar .stack/jars/fused-detector/*.jar
"""

from __future__ import annotations

import json

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from jobs.flink.fraud_cep import parser as cep_parser

# the thresholds among the arguments: each pattern's start with its name
PATTERN_PREFIXES = ("card_testing_", "velocity_", "travel_", "escalation_")


def main() -> None:
    parser = cep_parser()
    parser.description = __doc__.splitlines()[0]
    parser.add_argument("--detector-jar", required=True, help="the fused-detector jar")
    args = parser.parse_args()
    config = Configuration()
    config.set_string("pipeline.jars", f"file://{args.detector_jar}")
    config.set_string("pipeline.name", args.job_name)
    config.set_string("parallelism.default", str(args.parallelism))
    config.set_string("execution.checkpointing.interval", f"{args.checkpoint_interval_s}s")
    config.set_string("pipeline.auto-watermark-interval", "50ms")
    env = StreamExecutionEnvironment.get_execution_environment(config)
    # the rule set in force until the rules topic brings a newer one, as RuleSet JSON
    thresholds = {k: v for k, v in vars(args).items() if k.startswith(PATTERN_PREFIXES)}
    rules = json.dumps({"version": args.rule_version, "thresholds": thresholds})
    get_gateway().jvm.io.example.hybrid.fraud.FusedDetection.build(
        env._j_stream_execution_environment,
        args.bootstrap_servers,
        args.job_name,
        args.source_topic,
        args.group_id or args.job_name,
        args.startup_mode,
        args.bounded,
        args.alerts_topic,
        args.dead_letter_topic,
        args.rules_topic,
        args.rules_applied_topic,
        args.watermark_delay_ms,
        args.idle_timeout_s,
        args.hold_until_watermark,
        rules,
    )
    env.execute(args.job_name)


if __name__ == "__main__":
    main()
