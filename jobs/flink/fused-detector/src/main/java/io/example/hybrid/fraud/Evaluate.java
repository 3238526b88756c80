package io.example.hybrid.fraud;

import java.util.List;

/**
 * Every rule on one event of a card, in event-time order: the same answers as the
 * MATCH_RECOGNIZE patterns of fraud_cep.py (strictly consecutive rows, AFTER MATCH SKIP PAST
 * LAST ROW, a partial match dropped once the event's time minus its first row's reaches WITHIN).
 */
final class Evaluate {
  private Evaluate() {}

  static void event(Rules rules, CardState card, Txn e, List<Match> found) {
    card.newest = Math.max(card.newest, e.ts);
    // a disabled pattern keeps nothing: enabled again, it starts from the next event
    if (rules.cardTesting) {
      cardTesting(rules, card.smallRun, e, found);
    } else {
      card.smallRun.clear();
    }
    if (rules.velocity) {
      velocity(rules, card.velocityRun, e, found);
    } else {
      card.velocityRun.clear();
    }
    card.previous = rules.travel ? travel(rules, card.previous, e, found) : null;
    if (rules.escalation) {
      escalation(rules, card.escalationRun, e, found);
    } else {
      card.escalationRun.clear();
    }
  }

  private static void dropOutside(List<Txn> run, long ts, long window) {
    int expired = 0;
    while (expired < run.size() && ts - run.get(expired).ts >= window) {
      expired++;
    }
    if (expired > 0) {
      run.subList(0, expired).clear();
    }
  }

  /** S{n,} B: at least n charges under SMALL, then one of at least LARGE. */
  private static void cardTesting(Rules rules, List<Txn> run, Txn e, List<Match> found) {
    if (e.cents < rules.cardTestingSmall) {
      run.add(e);
      dropOutside(run, e.ts, rules.cardTestingWindow);
      return;
    }
    if (e.cents >= rules.cardTestingLarge) {
      dropOutside(run, e.ts, rules.cardTestingWindow);
      if (run.size() >= rules.cardTestingMinSmall) {
        found.add(
            new Match(
                "card_testing",
                run.get(0),
                run.size() + " charges under " + money(rules.cardTestingSmall) + " then "
                    + money(e.cents)));
      }
    }
    run.clear();
  }

  /** V{n}: n charges within the window. */
  private static void velocity(Rules rules, List<Txn> run, Txn e, List<Match> found) {
    dropOutside(run, e.ts, rules.velocityWindow);
    run.add(e);
    if (run.size() >= rules.velocityCount) {
      Txn first = run.get(0);
      found.add(
          new Match(
              "velocity_burst",
              first,
              rules.velocityCount + " charges in " + (e.ts - first.ts) / 1000 + " s"));
      run.clear();
    }
  }

  /** A B: consecutive charges too far apart for the time between them. */
  private static Txn travel(Rules rules, Txn previous, Txn e, List<Match> found) {
    if (previous == null || e.ts - previous.ts >= rules.travelWindow) {
      return e;
    }
    double km = kmBetween(previous, e);
    long seconds = (e.ts - previous.ts) / 1000;
    if (km > rules.travelMinKm && km * 3600 / (seconds + 1) > rules.travelMaxKmh) {
      found.add(
          new Match(
              "impossible_travel",
              previous,
              previous.country + " -> " + e.country + ": " + (int) km + " km in " + seconds
                  + " s"));
      return null;
    }
    return e;
  }

  /** E1 E2 E3 E4: each charge FACTOR times the one before, the last at least MIN_FINAL. */
  private static void escalation(Rules rules, List<Txn> run, Txn e, List<Match> found) {
    dropOutside(run, e.ts, rules.escalationWindow);
    if (!run.isEmpty() && e.cents >= rules.escalationFactor * run.get(run.size() - 1).cents) {
      if (run.size() == 3 && e.cents >= rules.escalationMinFinal) {
        found.add(
            new Match(
                "escalation",
                run.get(0),
                money(run.get(0).cents) + " -> " + money(run.get(1).cents) + " -> "
                    + money(run.get(2).cents) + " -> " + money(e.cents)));
        run.clear();
        return;
      }
      run.add(e);
      if (run.size() > 3) {
        run.remove(0);
      }
      return;
    }
    run.clear();
    run.add(e);
  }

  static double kmBetween(Txn a, Txn b) {
    double la = Math.toRadians(a.lat);
    double lb = Math.toRadians(b.lat);
    double cos =
        Math.sin(la) * Math.sin(lb)
            + Math.cos(la) * Math.cos(lb) * Math.cos(Math.toRadians(b.lon - a.lon));
    return 6371 * Math.acos(Math.min(1.0, cos));
  }

  static String money(long cents) {
    return cents / 100 + "." + (cents % 100 < 10 ? "0" : "") + cents % 100;
  }
}
