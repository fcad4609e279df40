-- Who a function call comes as: 'scheduler' (a cron job's run, by its tick or by run-job) or
-- 'operator' (hydra scheduler call). The node hands it to the instance, and a function that
-- declares roles runs only for those.
ALTER TABLE function_calls ADD COLUMN role text NOT NULL DEFAULT 'scheduler' CHECK (role IN ('scheduler', 'operator'));
