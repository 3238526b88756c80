package io.example.hybrid.fraud;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.MapStateDescriptor;
import org.apache.flink.api.common.state.ReadOnlyBroadcastState;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.co.KeyedBroadcastProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One card's rules, evaluated on each of its events as it arrives: one state read and write
 * per event, no timer. An event at or behind the watermark is dropped, as MATCH_RECOGNIZE drops
 * it. The state of idle cards goes in a sweep (see {@link #sweep}).
 *
 * <p>Evaluating on arrival gives the event-time answer while a card's events come in order
 * (Kafka keeps the order of a key). A card whose event comes behind a later one of its own is
 * held from then on: its events wait in its state and are evaluated in event-time order as the
 * watermark passes them, as MATCH_RECOGNIZE evaluates every event (exact for what follows; what
 * was evaluated before the disorder showed stays as it was). With holdEveryCard, every card is
 * held from its first event: the SQL job's answers under any disorder within the watermark
 * delay, at the cost of that delay in latency.
 *
 * <p>The rules are broadcast state: a rule set for this job on the rules topic replaces the one
 * in force once the job has checked it, and every subtask says what it did on the
 * rules-applied output (a refusal with its reason), which is how the monitor knows a change
 * took effect. Until a rule set arrives, the one the job was started with is in force.
 */
public final class FusedDetector
    extends KeyedBroadcastProcessFunction<String, Parsed, RuleUpdate, Alert> {
  private static final long serialVersionUID = 1L;
  private static final Logger LOG = LoggerFactory.getLogger(FusedDetector.class);

  static final MapStateDescriptor<String, String> RULES =
      new MapStateDescriptor<>("rules", Types.STRING, Types.STRING);
  private static final ValueStateDescriptor<CardState> CARD =
      new ValueStateDescriptor<>("card", TypeInformation.of(CardState.class));
  static final String IN_FORCE = "in-force";
  static final OutputTag<String> APPLIED = new OutputTag<>("rules-applied") {};

  private final String jobName;
  private final Rules initial;
  private final boolean holdEveryCard;
  private transient Rules rules; // the broadcast state's rule set, parsed
  private transient ValueState<CardState> card;
  private transient List<Match> found;
  private transient Counter late;
  private transient Counter outOfOrder;
  private transient Counter cardsHeld;
  private transient Counter cardsSwept;

  public FusedDetector(String jobName, Rules initial, boolean holdEveryCard) {
    this.jobName = jobName;
    this.initial = initial;
    this.holdEveryCard = holdEveryCard;
  }

  @Override
  public void open(OpenContext context) {
    card = getRuntimeContext().getState(CARD);
    found = new ArrayList<>();
    late = getRuntimeContext().getMetricGroup().counter("lateEventsDropped");
    outOfOrder = getRuntimeContext().getMetricGroup().counter("outOfOrderEvents");
    cardsHeld = getRuntimeContext().getMetricGroup().counter("cardsHeldForTheWatermark");
    cardsSwept = getRuntimeContext().getMetricGroup().counter("idleCardsRemoved");
    getRuntimeContext().getMetricGroup().gauge("ruleVersion", () -> rules == null ? -1 : rules.version);
  }

  private Rules inForce(ReadOnlyBroadcastState<String, String> state) throws Exception {
    if (rules == null) { // first use, or after a restore
      String json = state.get(IN_FORCE);
      rules = json == null ? initial : Rules.parse(json);
    }
    return rules;
  }

  @Override
  public void processElement(Parsed event, ReadOnlyContext ctx, Collector<Alert> out)
      throws Exception {
    Txn e = event.txn;
    if (e.ts <= ctx.timerService().currentWatermark()) {
      late.inc();
      return;
    }
    Rules r = inForce(ctx.getBroadcastState(RULES));
    CardState state = card.value();
    if (state == null) {
      state = new CardState();
      state.held = holdEveryCard;
    }
    if (e.ts < state.newest) {
      outOfOrder.inc();
      if (!state.held) {
        // from now on this card waits for the watermark: its later events are evaluated in
        // event-time order, as MATCH_RECOGNIZE sorts them
        state.held = true;
        cardsHeld.inc();
      }
    }
    if (state.held) {
      int at = state.pending.size();
      while (at > 0 && state.pending.get(at - 1).ts > e.ts) {
        at--;
      }
      state.pending.add(at, e);
      state.newest = Math.max(state.newest, e.ts);
      ctx.timerService().registerEventTimeTimer(e.ts);
    } else {
      evaluate(r, state, e, event.cardId, out);
    }
    card.update(state);
  }

  private void evaluate(Rules r, CardState state, Txn e, String cardId, Collector<Alert> out) {
    Evaluate.event(r, state, e, found);
    long now = System.currentTimeMillis();
    for (Match m : found) {
      Alert alert = new Alert();
      alert.alertId = m.pattern() + "-" + cardId + "-" + m.first().txnId;
      alert.cardId = cardId;
      alert.customerId = m.first().customerId;
      alert.pattern = m.pattern();
      alert.evidence = m.evidence();
      alert.firstEventTime = m.first().ts;
      alert.eventTime = e.ts;
      alert.detectionTime = now;
      alert.ruleVersion = r.version;
      out.collect(alert);
    }
    found.clear();
  }

  /** A held card's events the watermark passed are evaluated, in event-time order. */
  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<Alert> out) throws Exception {
    CardState state = card.value();
    if (state == null) {
      return;
    }
    Rules r = inForce(ctx.getBroadcastState(RULES));
    int ready = 0;
    while (ready < state.pending.size() && state.pending.get(ready).ts <= timestamp) {
      evaluate(r, state, state.pending.get(ready), ctx.getCurrentKey(), out);
      ready++;
    }
    if (ready > 0) {
      state.pending.subList(0, ready).clear();
      card.update(state);
    }
  }

  /**
   * Every card whose newest event is the widest window behind the watermark, with nothing
   * waiting for it, is forgotten: its next event would start every rule afresh anyway, and the
   * heap holds the cards that are active, not every card seen. A sweep every few seconds (a
   * tick on the broadcast input) replaces a timer per card: the timer queue's inserts and
   * removals were a quarter of the detector's time (JFR), and a bounded job fired every card's
   * timer at its end.
   */
  private void sweep(Context ctx) throws Exception {
    long watermark = ctx.currentWatermark();
    long widest = inForce(ctx.getBroadcastState(RULES)).widest;
    ctx.applyToKeyedState(
        CARD,
        (cardId, cardState) -> {
          CardState state = cardState.value();
          // (the watermark minus newest would overflow before the first watermark)
          if (state != null && state.pending.isEmpty() && watermark >= state.newest + widest) {
            cardState.clear();
            cardsSwept.inc();
          }
        });
  }

  /**
   * A newer valid rule set replaces the one in force; the one in force again is acknowledged
   * again (a retried publication); an older one is skipped (the topic read from its start after
   * a fresh submission); anything else is refused, and the rules in force stay.
   */
  @Override
  public void processBroadcastElement(RuleUpdate update, Context ctx, Collector<Alert> out)
      throws Exception {
    if (update.isSweepTick()) {
      sweep(ctx);
      return;
    }
    if (!jobName.equals(update.jobName)) {
      return;
    }
    Rules current = inForce(ctx.getBroadcastState(RULES));
    long version = Rules.versionOf(update.json);
    Rules next;
    try {
      next = Rules.parse(update.json);
    } catch (IllegalArgumentException refused) {
      acknowledge(ctx, version, refused.getMessage());
      return;
    }
    if (next.version < current.version) {
      LOG.info("rule set {} skipped: version {} is in force", next.version, current.version);
      return;
    }
    if (next.version == current.version) {
      acknowledge(
          ctx,
          version,
          next.sameThresholds(current)
              ? null
              : "version " + version + " is in force with other thresholds: a change takes the"
                  + " next version");
      return;
    }
    ctx.getBroadcastState(RULES).put(IN_FORCE, update.json);
    rules = next;
    LOG.info("rule set {} in force", next.version);
    acknowledge(ctx, version, null);
  }

  private void acknowledge(Context ctx, long version, String refusal) {
    ctx.output(
        APPLIED,
        RulesApplied.json(
            jobName,
            version,
            getRuntimeContext().getTaskInfo().getIndexOfThisSubtask(),
            getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks(),
            refusal,
            inForceVersion()));
  }

  private long inForceVersion() {
    return rules == null ? initial.version : rules.version;
  }
}
