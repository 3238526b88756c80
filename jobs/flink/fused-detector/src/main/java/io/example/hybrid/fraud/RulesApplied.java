package io.example.hybrid.fraud;

import java.time.Instant;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.ObjectMapper;
import org.apache.flink.shaded.jackson2.com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * What one subtask did with a rule set, as JSON for the rules-applied topic: the project's
 * `RulesApplied` model reads it (accepted, or refused with the reason; the version in force).
 */
final class RulesApplied {
  private RulesApplied() {}

  static String json(
      String jobName, long version, int subtask, int subtasks, String refusal, long inForce) {
    ObjectNode node = new ObjectMapper().createObjectNode();
    node.put("job_name", jobName);
    node.put("version", version);
    node.put("subtask", subtask);
    node.put("subtasks", subtasks);
    node.put("accepted", refusal == null);
    if (refusal != null) {
      node.put("reason", refusal);
    }
    node.put("in_force", inForce);
    node.put("at", Instant.now().toString());
    return node.toString();
  }
}
