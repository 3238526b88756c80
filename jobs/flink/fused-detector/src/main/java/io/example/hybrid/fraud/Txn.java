package io.example.hybrid.fraud;

import java.io.Serializable;

/** One transaction as the detector keeps it. */
public final class Txn implements Serializable {
  private static final long serialVersionUID = 1L;

  public long ts;
  public String txnId;
  public String customerId;
  public long cents;
  public String country;
  public double lat;
  public double lon;

  public Txn() {}

  Txn(long ts, String txnId, String customerId, long cents, String country, double lat, double lon) {
    this.ts = ts;
    this.txnId = txnId;
    this.customerId = customerId;
    this.cents = cents;
    this.country = country;
    this.lat = lat;
    this.lon = lon;
  }
}
