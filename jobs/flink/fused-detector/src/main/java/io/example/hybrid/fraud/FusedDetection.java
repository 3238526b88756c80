package io.example.hybrid.fraud;

import java.time.Duration;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.KafkaSourceBuilder;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.java.functions.KeySelector;
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
 * transactions topic -> parse (dead letters aside) -> one keyed detector per card -> alerts.
 */
public final class FusedDetection {
  private FusedDetection() {}

  static final OutputTag<byte[]> DEAD_LETTERS = new OutputTag<>("dead-letters") {};

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

  public static void build(
      StreamExecutionEnvironment env,
      String bootstrapServers,
      String sourceTopic,
      String groupId,
      String startupMode,
      boolean bounded,
      String alertsTopic,
      String deadLetterTopic,
      long watermarkDelayMs,
      long idleTimeoutS,
      Rules rules) {
    KafkaSourceBuilder<Parsed> source =
        KafkaSource.<Parsed>builder()
            .setBootstrapServers(bootstrapServers)
            .setTopics(sourceTopic)
            .setGroupId(groupId)
            .setValueOnlyDeserializer(new TransactionSchema())
            .setStartingOffsets(
                switch (startupMode) {
                  case "earliest-offset" -> OffsetsInitializer.earliest();
                  case "latest-offset" -> OffsetsInitializer.latest();
                  default -> OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
                });
    if (bounded) {
      source.setBounded(OffsetsInitializer.latest());
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
    KeySelector<Parsed, String> card = parsed -> parsed.cardId;
    KeyedStream<Parsed, String> byCard;
    if (env.getParallelism() == 1) {
      // One subtask: every card is already where keyBy would send it. Reinterpreted as keyed,
      // the stream chains source, routing and detector, with no serialized exchange; and since
      // the source makes a new object per record, chained operators need not copy it (with an
      // exchange, reused objects would change under the references the detector keeps).
      env.getConfig().enableObjectReuse();
      byCard = DataStreamUtils.reinterpretAsKeyedStream(valid, card, Types.STRING);
    } else {
      byCard = valid.keyBy(card);
    }
    DataStream<Alert> alerts =
        byCard
            .process(new FusedDetector(rules))
            .uid("fused-detector")
            .name("fused detector");
    alerts
        .sinkTo(
            KafkaSink.<Alert>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(
                    KafkaRecordSerializationSchema.<Alert>builder()
                        .setTopic(alertsTopic)
                        .setKeySerializationSchema(new AlertSchema.CardKey())
                        .setValueSerializationSchema(new AlertSchema())
                        .build())
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build())
        .uid("alerts")
        .name("alerts");
    valid
        .getSideOutput(DEAD_LETTERS)
        .sinkTo(
            KafkaSink.<byte[]>builder()
                .setBootstrapServers(bootstrapServers)
                .setRecordSerializer(
                    KafkaRecordSerializationSchema.<byte[]>builder()
                        .setTopic(deadLetterTopic)
                        .setValueSerializationSchema(new Bytes())
                        .build())
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build())
        .uid("dead-letters")
        .name("dead letters");
  }
}
