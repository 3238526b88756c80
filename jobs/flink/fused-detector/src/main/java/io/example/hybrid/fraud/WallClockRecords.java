package io.example.hybrid.fraud;

import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.kafka.shaded.org.apache.kafka.clients.producer.ProducerRecord;

/**
 * Records for a topic, stamped by the producer when they are written, as the SQL job's are.
 * Flink would stamp them with the element's event time, which the broker refuses when it is
 * more than `message.timestamp.after.max.ms` (an hour) ahead of its clock, failing the job.
 */
final class WallClockRecords<T> implements KafkaRecordSerializationSchema<T> {
  private static final long serialVersionUID = 1L;

  private final String topic;
  private final SerializationSchema<T> key; // null: no key
  private final SerializationSchema<T> value;

  WallClockRecords(String topic, SerializationSchema<T> key, SerializationSchema<T> value) {
    this.topic = topic;
    this.key = key;
    this.value = value;
  }

  @Override
  public void open(
      SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext)
      throws Exception {
    if (key != null) {
      key.open(context);
    }
    value.open(context);
  }

  @Override
  public ProducerRecord<byte[], byte[]> serialize(
      T element, KafkaSinkContext context, Long timestamp) {
    return new ProducerRecord<>(
        topic,
        null,
        null,
        key == null ? null : key.serialize(element),
        value.serialize(element));
  }
}
