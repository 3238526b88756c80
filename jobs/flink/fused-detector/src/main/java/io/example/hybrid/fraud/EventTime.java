package io.example.hybrid.fraud;

import java.time.Instant;
import java.time.LocalDate;

/** ISO-8601 instants to epoch milliseconds, with a fast path for the producers' fixed format. */
final class EventTime {
  private EventTime() {}

  /**
   * `yyyy-MM-ddTHH:mm:ss.SSSZ` (what domain/fraud/events.py writes) without java.time's general
   * parser; anything else through Instant.parse, which throws DateTimeParseException.
   */
  static long epochMillis(String text) {
    if (text.length() == 24
        && text.charAt(4) == '-'
        && text.charAt(7) == '-'
        && text.charAt(10) == 'T'
        && text.charAt(13) == ':'
        && text.charAt(16) == ':'
        && text.charAt(19) == '.'
        && text.charAt(23) == 'Z') {
      int year = digits(text, 0, 4);
      int month = digits(text, 5, 7);
      int day = digits(text, 8, 10);
      int hour = digits(text, 11, 13);
      int minute = digits(text, 14, 16);
      int second = digits(text, 17, 19);
      int millis = digits(text, 20, 23);
      if (year >= 0 && month >= 1 && month <= 12 && day >= 1 && day <= 28 && hour >= 0
          && hour < 24 && minute >= 0 && minute < 60 && second >= 0 && second < 60
          && millis >= 0) {
        long days = LocalDate.of(year, month, day).toEpochDay();
        return ((days * 24 + hour) * 60 + minute) * 60_000L + second * 1000L + millis;
      }
    }
    return Instant.parse(text).toEpochMilli();
  }

  /** The decimal number in text[from, to), or -1 when a character is not a digit. */
  private static int digits(String text, int from, int to) {
    int value = 0;
    for (int i = from; i < to; i++) {
      char c = text.charAt(i);
      if (c < '0' || c > '9') {
        return -1;
      }
      value = value * 10 + (c - '0');
    }
    return value;
  }
}
