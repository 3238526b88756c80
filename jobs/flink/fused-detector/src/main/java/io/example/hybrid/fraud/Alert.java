package io.example.hybrid.fraud;

import java.io.Serializable;

/** An alert, as the SQL job writes it to the alerts topic. */
public final class Alert implements Serializable {
  private static final long serialVersionUID = 1L;

  public String alertId;
  public String cardId;
  public String customerId;
  public String pattern;
  public String evidence;
  public long firstEventTime;
  public long eventTime;
  public long detectionTime;
  /** the version of the rule set that matched */
  public long ruleVersion;

  public Alert() {}
}
