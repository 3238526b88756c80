package io.example.hybrid.fraud;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;

/**
 * What one card's rules remember between its events. The lists are declared {@code List}: Flink
 * serializes them with its own list serializer (an {@code ArrayList} field would go through
 * Kryo, on every checkpoint's copy-on-write and snapshot, and could not evolve).
 */
public final class CardState implements Serializable {
  private static final long serialVersionUID = 1L;

  /** consecutive charges under the card-testing threshold, inside its window */
  public List<Txn> smallRun = new ArrayList<>();
  /** the card's charges since its last velocity match, inside the window */
  public List<Txn> velocityRun = new ArrayList<>();
  /** the previous charge, unless a travel match used it */
  public Txn previous;
  /** the last (at most three) consecutive charges that each escalated on the one before */
  public List<Txn> escalationRun = new ArrayList<>();
  /** event time of the card's newest charge */
  public long newest;
  /**
   * the card's charges are evaluated in event-time order once the watermark passes them (after
   * one of them came out of order, or for every card when the job holds them all)
   */
  public boolean held;
  /** a held card's charges the watermark has not passed yet, in event-time order */
  public List<Txn> pending = new ArrayList<>();
}
