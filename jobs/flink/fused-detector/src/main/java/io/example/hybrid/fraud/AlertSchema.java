package io.example.hybrid.fraud;

import java.nio.charset.StandardCharsets;
import java.time.Instant;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/** An alert's JSON: the fields and ISO-8601 times of the SQL job's `fraud_alerts` table. */
public final class AlertSchema implements SerializationSchema<Alert> {
  private static final long serialVersionUID = 1L;

  private transient ObjectMapper json;

  @Override
  public byte[] serialize(Alert alert) {
    if (json == null) {
      json = new ObjectMapper();
    }
    ObjectNode node = json.createObjectNode();
    node.put("alert_id", alert.alertId);
    node.put("card_id", alert.cardId);
    node.put("customer_id", alert.customerId);
    node.put("pattern", alert.pattern);
    node.put("evidence", alert.evidence);
    node.put("first_event_time", iso(alert.firstEventTime));
    node.put("event_time", iso(alert.eventTime));
    node.put("detection_time", iso(alert.detectionTime));
    node.put("rule_version", alert.ruleVersion);
    try {
      return json.writeValueAsBytes(node);
    } catch (Exception cannotHappen) {
      throw new IllegalStateException(cannotHappen);
    }
  }

  static String iso(long epochMs) {
    return Instant.ofEpochMilli(epochMs).toString();
  }

  /** The record key: the card, as the SQL job's raw key format writes it. */
  static final class CardKey implements SerializationSchema<Alert> {
    private static final long serialVersionUID = 1L;

    @Override
    public byte[] serialize(Alert alert) {
      return alert.cardId.getBytes(StandardCharsets.UTF_8);
    }
  }
}
