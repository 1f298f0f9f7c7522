// Drives the simulator through node-bandwidth 4.0.0, unchanged, and prints a JSON report.
//
// Settings come from --name=value arguments or the environment:
//   --base-url / CATAPULT_BASE_URL        origin of the simulator, e.g. http://127.0.0.1:8900
//   --user-id / CATAPULT_USER_ID
//   --api-token / CATAPULT_API_TOKEN
//   --api-secret / CATAPULT_API_SECRET
//   --inbound-call-id / INBOUND_CALL_ID   an incoming call that is still ringing
//   --from / CATAPULT_FROM_NUMBER         one of the account's numbers
//   --to / CATAPULT_TO_NUMBER             destination of the call created here
//
// Every step runs in order; the first unexpected failure ends the run with exit status 1.
"use strict";

const Bandwidth = require("node-bandwidth");

function setting(name, envName, fallback) {
	const prefix = "--" + name + "=";
	const fromArgv = process.argv.slice(2).find((a) => a.startsWith(prefix));
	const value = fromArgv ? fromArgv.slice(prefix.length) : process.env[envName] || fallback;
	if (!value) {
		throw new Error("missing --" + name + " (or " + envName + ")");
	}
	return value;
}

function describeError(err) {
	return {
		name: err.name,
		statusCode: err.statusCode,
		message: typeof err.message === "string" ? err.message : JSON.stringify(err.message),
		limitReset: err.limitReset,
	};
}

async function expectFailure(promise) {
	try {
		await promise;
	} catch (err) {
		return describeError(err);
	}
	return null;
}

async function main() {
	const client = new Bandwidth({
		baseUrl: setting("base-url", "CATAPULT_BASE_URL"),
		userId: setting("user-id", "CATAPULT_USER_ID"),
		apiToken: setting("api-token", "CATAPULT_API_TOKEN"),
		apiSecret: setting("api-secret", "CATAPULT_API_SECRET"),
	});
	const inboundId = setting("inbound-call-id", "INBOUND_CALL_ID");
	const from = setting("from", "CATAPULT_FROM_NUMBER");
	const to = setting("to", "CATAPULT_TO_NUMBER", "+12125550150");
	const report = {};

	// Create, read back, list; events of the new call and one event alone.
	const created = await client.Call.create({ from: from, to: to, tag: "node-conformance" });
	report.createdId = created.id;
	report.created = await client.Call.get(created.id);
	const listed = await client.Call.list({ size: 10, sortOrder: "desc" });
	report.listedIds = listed.map((c) => c.id);
	const events = await client.Call.getEvents(created.id);
	report.eventNames = events.map((e) => e.name);
	report.event = await client.Call.getEvent(created.id, events[0].id);

	// The ringing incoming call: answer, record on and off, media, DTMF, gather.
	await client.Call.answer(inboundId);
	report.answeredState = (await client.Call.get(inboundId)).state;
	await client.Call.enableRecording(inboundId);
	await client.Call.disableRecording(inboundId);
	report.recordings = await client.Call.getRecordings(inboundId);
	await client.Call.speakSentence(inboundId, "Hello from node");
	await client.Call.sendDtmf(inboundId, "12#");
	const gather = await client.Call.createGather(inboundId, { maxDigits: 2 });
	report.gatherId = gather.id;
	report.gather = await client.Call.getGather(inboundId, gather.id);
	await client.Call.completeGather(inboundId, gather.id);

	// The test arms a rate-limit fault on this path: the SDK must raise RateLimitError.
	report.rateLimited = await expectFailure(client.Call.getTranscriptions(inboundId));

	// Transfer (201 + Location of the new leg), hang up, and hang up again (403).
	const leg = await client.Call.transfer(inboundId, {
		transferTo: "+13035550123",
		transferCallerId: "private",
	});
	report.transferId = leg.id;
	await client.Call.hangup(inboundId);
	report.secondHangup = await expectFailure(client.Call.hangup(inboundId));
	await client.Call.hangup(created.id);
	report.createdFinalState = (await client.Call.get(created.id)).state;
	report.missingCall = await expectFailure(client.Call.get("c-doesnotexist"));

	process.stdout.write(JSON.stringify(report) + "\n");
}

main().catch((err) => {
	process.stderr.write("conformance run failed: " + JSON.stringify(describeError(err)) + "\n");
	process.stderr.write(String(err.stack) + "\n");
	process.exit(1);
});
