package io.example.hybrid.fraud;

import java.io.Serializable;

/** The thresholds of the four patterns, in the units the detector compares: cents and ms. */
public final class Rules implements Serializable {
  private static final long serialVersionUID = 1L;

  final long cardTestingSmall;
  final int cardTestingMinSmall;
  final long cardTestingLarge;
  final long cardTestingWindow;
  final int velocityCount;
  final long velocityWindow;
  final double travelMinKm;
  final double travelMaxKmh;
  final long travelWindow;
  final double escalationFactor;
  final long escalationMinFinal;
  final long escalationWindow;
  final long widest;

  public Rules(
      double cardTestingSmall, int cardTestingMinSmall, double cardTestingLarge,
      int cardTestingWindowS, int velocityCount, int velocityWindowS, double travelMinKm,
      double travelMaxKmh, int travelWindowS, double escalationFactor,
      double escalationMinFinal, int escalationWindowS) {
    this.cardTestingSmall = Math.round(cardTestingSmall * 100);
    this.cardTestingMinSmall = cardTestingMinSmall;
    this.cardTestingLarge = Math.round(cardTestingLarge * 100);
    this.cardTestingWindow = cardTestingWindowS * 1000L;
    this.velocityCount = velocityCount;
    this.velocityWindow = velocityWindowS * 1000L;
    this.travelMinKm = travelMinKm;
    this.travelMaxKmh = travelMaxKmh;
    this.travelWindow = travelWindowS * 1000L;
    this.escalationFactor = escalationFactor;
    this.escalationMinFinal = Math.round(escalationMinFinal * 100);
    this.escalationWindow = escalationWindowS * 1000L;
    this.widest =
        Math.max(Math.max(cardTestingWindow, velocityWindow), Math.max(travelWindow, escalationWindow));
  }
}
