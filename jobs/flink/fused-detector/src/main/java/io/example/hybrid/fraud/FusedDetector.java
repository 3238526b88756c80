package io.example.hybrid.fraud;

import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * One card's rules, evaluated on each of its events as it arrives: one state read and write
 * per event, and at most one timer per card and second, for the state of an idle card to go.
 * An event at or behind the watermark is dropped, as MATCH_RECOGNIZE drops it.
 */
public final class FusedDetector extends KeyedProcessFunction<String, Parsed, Alert> {
  private static final long serialVersionUID = 1L;

  private final Rules rules;
  private transient ValueState<CardState> card;
  private transient List<Match> found;
  private transient Counter late;
  private transient Counter outOfOrder;

  public FusedDetector(Rules rules) {
    this.rules = rules;
  }

  @Override
  public void open(OpenContext context) {
    card =
        getRuntimeContext()
            .getState(new ValueStateDescriptor<>("card", TypeInformation.of(CardState.class)));
    found = new ArrayList<>();
    late = getRuntimeContext().getMetricGroup().counter("lateEventsDropped");
    outOfOrder = getRuntimeContext().getMetricGroup().counter("outOfOrderEvents");
  }

  @Override
  public void processElement(Parsed event, Context ctx, Collector<Alert> out) throws Exception {
    Txn e = event.txn;
    if (e.ts <= ctx.timerService().currentWatermark()) {
      late.inc();
      return;
    }
    CardState state = card.value();
    if (state == null) {
      state = new CardState();
    } else if (e.ts < state.newest) {
      outOfOrder.inc();
    }
    Evaluate.event(rules, state, e, found);
    long now = System.currentTimeMillis();
    for (Match m : found) {
      Alert alert = new Alert();
      alert.alertId = m.pattern() + "-" + event.cardId + "-" + m.first().txnId;
      alert.cardId = event.cardId;
      alert.customerId = m.first().customerId;
      alert.pattern = m.pattern();
      alert.evidence = m.evidence();
      alert.firstEventTime = m.first().ts;
      alert.eventTime = e.ts;
      alert.detectionTime = now;
      out.collect(alert);
    }
    found.clear();
    card.update(state);
    ctx.timerService().registerEventTimeTimer((e.ts + rules.widest) / 1000 * 1000 + 1000);
  }

  @Override
  public void onTimer(long timestamp, OnTimerContext ctx, Collector<Alert> out) throws Exception {
    CardState state = card.value();
    if (state != null && timestamp - state.newest >= rules.widest) {
      card.clear();
    }
  }
}
