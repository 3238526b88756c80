package io.example.hybrid.fraud;

import java.math.BigDecimal;
import java.math.RoundingMode;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import org.apache.flink.api.common.serialization.AbstractDeserializationSchema;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.JsonNode;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;

/**
 * One parse per record, in the source (so that watermarks are per Kafka partition, as in the
 * SQL job): a valid transaction by the rules of fraud_cep.py's `transactions` view, or the
 * record's bytes for the dead letters.
 */
public final class TransactionSchema extends AbstractDeserializationSchema<Parsed> {
  private static final long serialVersionUID = 1L;

  private transient ObjectMapper json;

  @Override
  public Parsed deserialize(byte[] record) {
    if (json == null) {
      json = new ObjectMapper();
    }
    Parsed parsed = new Parsed();
    parsed.txn = parse(record, parsed);
    if (parsed.txn == null) {
      parsed.invalid = record;
    }
    return parsed;
  }

  private Txn parse(byte[] record, Parsed parsed) {
    JsonNode node;
    try {
      node = json.readTree(record);
    } catch (Exception notJson) {
      return null;
    }
    if (node == null || !node.isObject() || node.path("schema_version").asInt(0) != 1) {
      return null;
    }
    String txnId = text(node, "txn_id");
    String cardId = text(node, "card_id");
    String eventTime = text(node, "event_time");
    try {
      // like the SQL table's `ts`: the event time whenever it parses, even of an invalid record
      parsed.ts = eventTime == null ? 0 : Instant.parse(eventTime).toEpochMilli();
    } catch (DateTimeParseException unparseable) {
      return null;
    }
    JsonNode lat = node.get("lat");
    JsonNode lon = node.get("lon");
    if (txnId == null || cardId == null || eventTime == null || !number(lat) || !number(lon)) {
      return null;
    }
    try {
      BigDecimal amount = new BigDecimal(node.path("amount").asText()).setScale(2, RoundingMode.HALF_UP);
      if (amount.signum() <= 0) {
        return null;
      }
      parsed.cardId = cardId;
      return new Txn(
          parsed.ts,
          txnId,
          text(node, "customer_id"),
          amount.movePointRight(2).longValueExact(),
          text(node, "country"),
          lat.asDouble(),
          lon.asDouble());
    } catch (NumberFormatException | ArithmeticException | DateTimeParseException invalid) {
      return null;
    }
  }

  private static String text(JsonNode node, String field) {
    JsonNode value = node.get(field);
    return value == null || value.isNull() ? null : value.asText();
  }

  private static boolean number(JsonNode value) {
    return value != null && value.isNumber();
  }
}
