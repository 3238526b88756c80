package io.example.hybrid.fraud;

import java.nio.charset.StandardCharsets;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.flink.util.Collector;

/** The rules topic's records, key and value as text; a record without both is skipped. */
public final class RuleUpdateSchema implements KafkaRecordDeserializationSchema<RuleUpdate> {
  private static final long serialVersionUID = 1L;

  @Override
  public void deserialize(ConsumerRecord<byte[], byte[]> record, Collector<RuleUpdate> out) {
    if (record.key() == null || record.value() == null) {
      return; // a tombstone, or a record no job can be meant by
    }
    RuleUpdate update = new RuleUpdate();
    update.jobName = new String(record.key(), StandardCharsets.UTF_8);
    update.json = new String(record.value(), StandardCharsets.UTF_8);
    out.collect(update);
  }

  @Override
  public TypeInformation<RuleUpdate> getProducedType() {
    return TypeInformation.of(RuleUpdate.class);
  }
}
