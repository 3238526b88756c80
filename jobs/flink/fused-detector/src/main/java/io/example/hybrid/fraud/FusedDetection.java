package io.example.hybrid.fraud;

import java.time.Duration;
import org.apache.flink.api.common.eventtime.Watermark;
import org.apache.flink.api.common.eventtime.WatermarkGenerator;
import org.apache.flink.api.common.eventtime.WatermarkOutput;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.streaming.api.datastream.BroadcastStream;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.DataStreamUtils;
import org.apache.flink.streaming.api.datastream.KeyedStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * The fused detection job's data path, built into the environment the Python job hands over:
 * transactions topic -> parse (dead letters aside) -> one keyed detector per card -> alerts,
 * with the rules topic broadcast to every detector (what each did with a rule set aside).
 */
public final class FusedDetection {
  private FusedDetection() {}

  static final OutputTag<byte[]> DEAD_LETTERS = new OutputTag<>("dead-letters") {};
  /** How often the detector forgets idle cards (wall clock; the test of it waits for one). */
  static final double SWEEPS_PER_SECOND = 0.2;

  /** Valid transactions go on; anything else goes to the dead letters, unchanged. */
  static final class Route extends ProcessFunction<Parsed, Parsed> {
    private static final long serialVersionUID = 1L;

    @Override
    public void processElement(Parsed parsed, Context ctx, Collector<Parsed> out) {
      if (parsed.txn == null) {
        ctx.output(DEAD_LETTERS, parsed.invalid);
      } else {
        out.collect(parsed);
      }
    }
  }

  static final class Bytes implements SerializationSchema<byte[]> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(byte[] record) {
      return record;
    }
  }

  /** The rules topic's watermark never holds the transactions' back. */
  static final class NeverLate implements WatermarkGenerator<RuleUpdate> {
    @Override
    public void onEvent(RuleUpdate update, long timestamp, WatermarkOutput output) {}

    @Override
    public void onPeriodicEmit(WatermarkOutput output) {
      output.emitWatermark(new Watermark(Long.MAX_VALUE));
    }
  }

  public static void build(
      StreamExecutionEnvironment env,
      String bootstrapServers,
      String jobName,
      String sourceTopic,
      String groupId,
      String startupMode,
      boolean bounded,
      String alertsTopic,
      String deadLetterTopic,
      String rulesTopic,
      String rulesAppliedTopic,
      long watermarkDelayMs,
      long idleTimeoutS,
      boolean holdEveryCard,
      String rules) {
    KafkaSourceBuilder<Parsed> source =
        KafkaSource.<Parsed>builder()
            .setBootstrapServers(bootstrapServers)
            .setTopics(sourceTopic)
            .setGroupId(groupId)
            .setValueOnlyDeserializer(new TransactionSchema())
            // what an import's aborted Kafka transaction wrote is not a transaction that happened
            .setProperty("isolation.level", "read_committed")
            .setStartingOffsets(
                switch (startupMode) {
                  case "earliest-offset" -> OffsetsInitializer.earliest();
                  case "latest-offset" -> OffsetsInitializer.latest();
                  default -> OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
                });
    // the whole (compacted) rules topic: the detector skips the versions it has passed
    KafkaSourceBuilder<RuleUpdate> ruleSource =
        KafkaSource.<RuleUpdate>builder()
            .setBootstrapServers(bootstrapServers)
            .setTopics(rulesTopic)
            .setGroupId(groupId + "-rules")
            .setDeserializer(new RuleUpdateSchema())
            .setStartingOffsets(OffsetsInitializer.earliest());
    if (bounded) {
      source.setBounded(OffsetsInitializer.latest());
      ruleSource.setBounded(OffsetsInitializer.latest());
    }
    WatermarkStrategy<Parsed> watermarks =
        WatermarkStrategy.<Parsed>forBoundedOutOfOrderness(Duration.ofMillis(watermarkDelayMs))
            .withTimestampAssigner((parsed, kafkaTime) -> parsed.ts);
    if (idleTimeoutS > 0) {
      watermarks = watermarks.withIdleness(Duration.ofSeconds(idleTimeoutS));
    }
    SingleOutputStreamOperator<Parsed> valid =
        env.fromSource(source.build(), watermarks, "transactions")
            .uid("transactions")
            .process(new Route())
            .uid("route")
            .name("parse and route");
    DataStream<RuleUpdate> ruleInput =
        env.fromSource(
                ruleSource.build(), WatermarkStrategy.forGenerator(ctx -> new NeverLate()), "rules")
            .uid("rules")
            .setParallelism(1);
    if (!bounded) { // a bounded job ends with its input: no card needs forgetting
      ruleInput =
          ruleInput.union(
              env.fromSource(
                      new DataGeneratorSource<>(
                          tick -> RuleUpdate.sweepTick(),
                          Long.MAX_VALUE,
                          RateLimiterStrategy.perSecond(SWEEPS_PER_SECOND),
                          TypeInformation.of(RuleUpdate.class)),
                      WatermarkStrategy.forGenerator(ctx -> new NeverLate()),
                      "idle-card sweep")
                  .uid("idle-card-sweep")
                  .setParallelism(1));
    }
    BroadcastStream<RuleUpdate> ruleUpdates = ruleInput.broadcast(FusedDetector.RULES);
    KeySelector<Parsed, String> card = parsed -> parsed.cardId;
    KeyedStream<Parsed, String> byCard;
    if (env.getParallelism() == 1) {
      // One subtask: every card is already where keyBy would send it; reinterpreted as keyed,
      // the stream goes to the detector without being hashed.
      byCard = DataStreamUtils.reinterpretAsKeyedStream(valid, card, Types.STRING);
    } else {
      byCard = valid.keyBy(card);
    }
    SingleOutputStreamOperator<Alert> alerts =
        byCard
            .connect(ruleUpdates)
            .process(new FusedDetector(jobName, Rules.parse(rules), holdEveryCard))
            .uid("fused-detector")
            .name("fused detector");
    alerts
        .sinkTo(
            KafkaSink.<Alert>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(
                    new WallClockRecords<>(
                        alertsTopic, new AlertSchema.CardKey(), new AlertSchema()))
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build())
        .uid("alerts")
        .name("alerts");
    alerts
        .getSideOutput(FusedDetector.APPLIED)
        .sinkTo(
            KafkaSink.<String>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(
                    new WallClockRecords<>(rulesAppliedTopic, null, new SimpleStringSchema()))
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build())
        .uid("rules-applied")
        .name("rules applied");
    valid
        .getSideOutput(DEAD_LETTERS)
        .sinkTo(
            KafkaSink.<byte[]>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(new WallClockRecords<>(deadLetterTopic, null, new Bytes()))
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build())
        .uid("dead-letters")
        .name("dead letters");
  }
}
