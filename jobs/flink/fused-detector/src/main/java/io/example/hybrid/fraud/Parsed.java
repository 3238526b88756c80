package io.example.hybrid.fraud;

import java.io.Serializable;
import org.apache.flink.api.common.typeinfo.TypeInfo;

/** A record from the transactions topic: a valid transaction of a card, or invalid bytes. */
@TypeInfo(ParsedSerializer.Factory.class)
public final class Parsed implements Serializable {
  private static final long serialVersionUID = 1L;

  /** event time (ms), 0 when the record has none */
  public long ts;
  public String cardId;
  public Txn txn;
  public byte[] invalid;

  public Parsed() {}
}
