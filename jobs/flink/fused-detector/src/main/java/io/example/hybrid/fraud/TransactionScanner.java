package io.example.hybrid.fraud;

import java.nio.charset.StandardCharsets;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.core.io.NumberInput;

/**
 * The fields of a transaction read straight from the record's bytes, for the subset of JSON
 * that producers write: one flat object, ASCII strings without escapes, numbers, null. Anything
 * else (an escape, a non-ASCII byte, a nested or boolean value, invalid JSON, a number where
 * the job reads a string) makes {@link #scan} give up, and the record goes through Jackson, so
 * both paths give every record the same answer. Jackson's streaming parse was half of the
 * source's time (measured with JFR), this scan a fraction of that.
 */
final class TransactionScanner {
  private TransactionScanner() {}

  private static final byte[][] NAMES = {
    ascii("schema_version"),
    ascii("txn_id"),
    ascii("card_id"),
    ascii("customer_id"),
    ascii("amount"),
    ascii("country"),
    ascii("event_time"),
    ascii("lat"),
    ascii("lon"),
  };
  private static final int SCHEMA_VERSION = 0;
  private static final int TXN_ID = 1;
  private static final int CARD_ID = 2;
  private static final int CUSTOMER_ID = 3;
  private static final int AMOUNT = 4;
  private static final int COUNTRY = 5;
  private static final int EVENT_TIME = 6;
  private static final int LAT = 7;
  private static final int LON = 8;
  private static final int OTHER = -1;

  private static final byte[] NULL = ascii("null");

  /** Fills `f` as Jackson would and says true, or says false: the record is Jackson's. */
  static boolean scan(byte[] b, TransactionSchema.Fields f) {
    int i = space(b, 0);
    if (i >= b.length || b[i] != '{') {
      return false;
    }
    i = space(b, i + 1);
    while (true) {
      if (i >= b.length || b[i] != '"') {
        return false;
      }
      int nameEnd = stringEnd(b, i + 1);
      if (nameEnd < 0) {
        return false;
      }
      int field = field(b, i + 1, nameEnd);
      i = space(b, nameEnd + 1);
      if (i >= b.length || b[i] != ':') {
        return false;
      }
      i = space(b, i + 1);
      if (i >= b.length) {
        return false;
      }
      int end;
      if (b[i] == '"') {
        end = stringEnd(b, i + 1);
        if (end < 0 || !string(field, text(b, i + 1, end), f)) {
          return false;
        }
        end++;
      } else if (startsWith(b, i, NULL)) {
        end = i + NULL.length;
        nullValue(field, f);
      } else {
        end = numberEnd(b, i);
        // a number longer than Jackson's limit (1,000 characters) is an error there
        if (end < 0 || end - i > 100 || !number(field, b, i, end, f)) {
          return false;
        }
      }
      i = space(b, end);
      if (i >= b.length) {
        return false;
      }
      if (b[i] == '}') {
        return true; // what follows the object is not read, as by the Jackson path
      }
      if (b[i] != ',') {
        return false;
      }
      i = space(b, i + 1);
    }
  }

  private static boolean string(int field, String value, TransactionSchema.Fields f) {
    switch (field) {
      case TXN_ID -> f.txnId = value;
      case CARD_ID -> f.cardId = value;
      case CUSTOMER_ID -> f.customerId = value;
      case AMOUNT -> f.amount = value;
      case COUNTRY -> f.country = value;
      case EVENT_TIME -> f.eventTime = value;
      case OTHER -> {}
      default -> {
        return false; // Jackson's coercions of a string to a number
      }
    }
    return true;
  }

  private static void nullValue(int field, TransactionSchema.Fields f) {
    switch (field) {
      case SCHEMA_VERSION -> f.schemaVersion = 0;
      case LAT -> f.lat = null;
      case LON -> f.lon = null;
      default -> string(field, null, f); // a string field, or another's, null
    }
  }

  private static boolean number(
      int field, byte[] b, int from, int to, TransactionSchema.Fields f) {
    switch (field) {
      case SCHEMA_VERSION -> {
        if (to - from > 9 || b[from] == '-') {
          return false;
        }
        int value = 0;
        for (int i = from; i < to; i++) {
          if (b[i] < '0' || b[i] > '9') {
            return false; // a fraction or an exponent: Jackson's conversion
          }
          value = value * 10 + (b[i] - '0');
        }
        f.schemaVersion = value;
      }
      case AMOUNT -> f.amount = text(b, from, to); // the number's text, as getValueAsString
      case LAT -> f.lat = NumberInput.parseDouble(text(b, from, to), true);
      case LON -> f.lon = NumberInput.parseDouble(text(b, from, to), true);
      case OTHER -> {}
      default -> {
        return false; // getValueAsString of a number where a string belongs
      }
    }
    return true;
  }

  /** The closing quote of a string starting at `from`, or -1 if it is not plain ASCII. */
  private static int stringEnd(byte[] b, int from) {
    for (int i = from; i < b.length; i++) {
      byte c = b[i];
      if (c == '"') {
        return i;
      }
      if (c == '\\' || c < 0x20) { // an escape, a control or a non-ASCII (negative) byte
        return -1;
      }
    }
    return -1;
  }

  /** The end of a JSON number starting at `from`, or -1 if there is no valid one. */
  private static int numberEnd(byte[] b, int from) {
    int i = from;
    if (i < b.length && b[i] == '-') {
      i++;
    }
    if (i < b.length && b[i] == '0') {
      i++;
    } else {
      int digits = digits(b, i);
      if (digits == i) {
        return -1;
      }
      i = digits;
    }
    if (i < b.length && b[i] == '.') {
      int digits = digits(b, i + 1);
      if (digits == i + 1) {
        return -1;
      }
      i = digits;
    }
    if (i < b.length && (b[i] == 'e' || b[i] == 'E')) {
      i++;
      if (i < b.length && (b[i] == '+' || b[i] == '-')) {
        i++;
      }
      int digits = digits(b, i);
      if (digits == i) {
        return -1;
      }
      i = digits;
    }
    return i;
  }

  private static int digits(byte[] b, int from) {
    int i = from;
    while (i < b.length && b[i] >= '0' && b[i] <= '9') {
      i++;
    }
    return i;
  }

  private static int space(byte[] b, int from) {
    int i = from;
    while (i < b.length && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t')) {
      i++;
    }
    return i;
  }

  private static int field(byte[] b, int from, int to) {
    for (int n = 0; n < NAMES.length; n++) {
      byte[] name = NAMES[n];
      if (name.length == to - from && startsWith(b, from, name)) {
        return n;
      }
    }
    return OTHER;
  }

  private static boolean startsWith(byte[] b, int from, byte[] prefix) {
    if (b.length - from < prefix.length) {
      return false;
    }
    for (int k = 0; k < prefix.length; k++) {
      if (b[from + k] != prefix[k]) {
        return false;
      }
    }
    return true;
  }

  private static String text(byte[] b, int from, int to) {
    return new String(b, from, to - from, StandardCharsets.ISO_8859_1);
  }

  private static byte[] ascii(String text) {
    return text.getBytes(StandardCharsets.US_ASCII);
  }
}
