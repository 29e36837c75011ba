-- The booking worker's batch decision is planned for each batch, with the batch's real size.
--
-- PL/pgSQL caches the plans of a function's queries per session; after five calls it may keep a
-- generic plan, made without the parameters' values. For booking.decide_requests' decision
-- query that plan takes the unnest of the requests for one row, so it joins the batch's
-- derived sets (checked, contention, leader, collision) with nested loops, each scanning the
-- other again for every command (quadratic in the batch), and finds each command's doctor by
-- scanning every doctor of the tenant (doctors_by_tenant) instead of one primary-key lookup.
-- auto_explain on the booking bench's own batches (a fresh fleet, 166 commands): 23 ms of the
-- query's 76 ms in that doctor scan and 35 ms in a nested loop over `contention`; with the
-- batch's size known the same query uses hash joins. pg_stat_statements over a 30,000-command
-- booking bench: the decision query 158 ms per call (~400 commands) with the cached plans, 97
-- ms planned per batch. Planning the query once per batch costs well under a millisecond.
ALTER FUNCTION booking.decide_requests(booking.batch_command[], timestamptz) SET plan_cache_mode = force_custom_plan;
ALTER FUNCTION booking.decide_batch(
    uuid[], text[], uuid[], text[], uuid[], timestamptz[], uuid[], uuid[], uuid[], timestamptz[], timestamptz[], text[], text[],
    boolean[]) SET plan_cache_mode = force_custom_plan;
