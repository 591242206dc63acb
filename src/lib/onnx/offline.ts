/**
 * onnxruntime 1.30 on Linux starts a telemetry client with its first session (a device-id file and
 * a debug log in the temporary folder, uploads over HTTPS) unless ORT_DISABLE_TELEMETRY is set;
 * it reads the variable when that first session is created. Imported for its effect before any
 * module that creates sessions, and before any worker starts (workers copy the environment), so a
 * plant's Node-RED never tries to reach outside. A user who sets the variable keeps their choice.
 */
process.env["ORT_DISABLE_TELEMETRY"] ??= "1";

export {};
