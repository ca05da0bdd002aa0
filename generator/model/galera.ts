// Galera's failure detection, computed from database.suspect_timeout so galera.cnf only prints it.
import type { ClusterConfig } from "../config/schema.js";

/** An ISO 8601 duration as Galera reads it: 1.5 -> "PT1.5S". */
function period(seconds: number): string {
  return `PT${Number(seconds.toFixed(2))}S`;
}

/**
 * evs.* options for a member that evicts a silent peer after `suspect_timeout` seconds. While a peer that
 * lost power is still in the view, every commit on the survivors waits for it, so this is the write stall
 * of a node loss (bench/galera-stall). Galera needs keepalive_period <= inactive_check_period <=
 * suspect_timeout <= inactive_timeout.
 * The rest of the stall is the membership round, which these options shorten to Galera's floor (0.1 s):
 * - inactive_check_period: a silent peer is noticed at most one check after its timeout (keepalive_period,
 *   the "I am alive" message to the others, goes as often, so a healthy peer is heard between checks);
 * - join_retrans_period: the survivors do not notice the loss at the same instant. The first starts the
 *   round with a join message; the others enter it at once, but say that they suspect the peer too only
 *   in their next join, sent every join_retrans_period (PT1S by default: the stall's extra ~1 s).
 * inactive_timeout (a peer declared dead by one node alone, without the others' agreement) keeps Galera's
 * PT15S: lowered to 3 s it split a loaded 5-vote lab into non-Primary pieces during a membership round.
 */
export function galeraFailureDetection(db: ClusterConfig["cluster"]["database"]): string {
  const suspect = db.suspect_timeout;
  const round = 0.1;
  return [
    `evs.keepalive_period=${period(round)}`,
    `evs.inactive_check_period=${period(round)}`,
    `evs.suspect_timeout=${period(suspect)}`,
    `evs.inactive_timeout=${period(Math.max(suspect * 2, 15))}`,
    `evs.join_retrans_period=${period(round)}`,
  ].join(";");
}
