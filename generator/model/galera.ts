// Galera's failure detection, computed from database.suspect_timeout so galera.cnf only prints it.
import type { ClusterConfig } from "../config/schema.js";

/** An ISO 8601 duration as Galera reads it: 1.5 -> "PT1.5S". */
function period(seconds: number): string {
  return `PT${Number(seconds.toFixed(2))}S`;
}

/**
 * evs.* options for a member that evicts a silent peer after `suspect_timeout` seconds. While a peer that
 * lost power is still in the view, every commit on the survivors waits for it, so this is the write stall
 * of a node loss. Galera needs keepalive_period <= inactive_check_period <= suspect_timeout <=
 * inactive_timeout: a peer is checked six times per timeout (at least every 0.1 s, Galera's floor for the
 * keepalive) and told we are alive as often.
 * join_retrans_period: the survivors do not suspect the dead peer at the same instant. The first one
 * starts a membership round with a join message; the others enter it at once but tell that they suspect
 * the peer too only in their next join, which Galera sends every join_retrans_period (PT1S) - the ~1 s
 * that the stall had beyond the timeout (bench/galera-stall). At 0.2 s the round ends a check later.
 * inactive_timeout (a peer declared dead by one node alone, without the others' agreement) keeps Galera's
 * PT15S: lowered to 3 s it split a loaded 5-vote lab into non-Primary pieces during a membership round.
 */
export function galeraFailureDetection(db: ClusterConfig["cluster"]["database"]): string {
  const suspect = db.suspect_timeout;
  const check = Math.max(0.1, Math.min(0.5, suspect / 6));
  return [
    `evs.keepalive_period=${period(check)}`,
    `evs.inactive_check_period=${period(check)}`,
    `evs.suspect_timeout=${period(suspect)}`,
    `evs.inactive_timeout=${period(Math.max(suspect * 2, 15))}`,
    `evs.join_retrans_period=${period(0.2)}`,
  ].join(";");
}
