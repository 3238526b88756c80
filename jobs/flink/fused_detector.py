"""Fraud detection with one keyed operator per card that evaluates every rule on each event.

The same detection as fraud_cep.py (its MATCH_RECOGNIZE patterns are the specification: a
differential test holds the two to the same alerts), at a fraction of the cost: one JVM
operator (jobs/flink/fused-detector, built by Maven) keeps each card's rule state compact,
evaluates the four patterns as each event arrives and registers at most one timer per card and
second. Transactions are read and parsed once; whatever detection cannot read goes, unchanged,
to the dead-letter topic. Same arguments as fraud_cep.py, plus the jar. Run by hand:

    flink run -m localhost:8081 -d -py jobs/flink/fused_detector.py --bootstrap-servers \
        localhost:19092 --job-name fraud-fused --detector-jar .stack/jars/fused-detector/*.jar
"""

from __future__ import annotations

from pyflink.common import Configuration
from pyflink.datastream import StreamExecutionEnvironment
from pyflink.java_gateway import get_gateway

from jobs.flink.fraud_cep import parser as cep_parser


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
    fraud = get_gateway().jvm.io.example.hybrid.fraud
    rules = fraud.Rules(
        args.card_testing_small,
        args.card_testing_min_small,
        args.card_testing_large,
        args.card_testing_window_s,
        args.velocity_count,
        args.velocity_window_s,
        args.travel_min_km,
        args.travel_max_kmh,
        args.travel_window_s,
        args.escalation_factor,
        args.escalation_min_final,
        args.escalation_window_s,
    )
    fraud.FusedDetection.build(
        env._j_stream_execution_environment,
        args.bootstrap_servers,
        args.source_topic,
        args.group_id or args.job_name,
        args.startup_mode,
        args.bounded,
        args.alerts_topic,
        args.dead_letter_topic,
        args.watermark_delay_ms,
        args.idle_timeout_s,
        rules,
    )
    env.execute(args.job_name)


if __name__ == "__main__":
    main()
