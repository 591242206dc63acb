/**
 * defect-image-source: reads an image from a file, a watched folder, an HTTP(S) snapshot URL
 * or msg.payload, checks it with a probe and sends the encoded bytes on.
 */
import type { Node, NodeAPI, NodeMessage, NodeMessageInFlow } from "node-red";
import { basename } from "node:path";
import type { DecodeLimits } from "../lib/image";
import {
  listFolderFiles,
  loadImageBytes,
  loadImageFile,
  loadImageFileWithin,
  loadImageUrl,
  parseSourceOptions,
  resolveSourcePath,
  watchFolder,
  withRetries,
  type FolderWatch,
  type SourceImage,
  type SourceOptions,
} from "../lib/source";
import { DefectError } from "../lib/errors";
import { addTiming, setMessageImage, writeQueueInfo } from "../lib/message";
import { createErrorRouter, translateError } from "./shared/errors";
import { registerFileCheck } from "./shared/file-check";
import { rejectInput, type SendFunction } from "./shared/input";
import { messageProperty, stringProperty } from "./shared/message";
import { baseDirectory, parseDecodeLimits, svgAllowed } from "./shared/settings";
import { COMMON_STATES, createStatus } from "./shared/status";
import { parseQueueOptions, type QueueOptions } from "../lib/queue";
import { createSourceQueue } from "./image-source-queue";
import type { ImageSourceCredentials, ImageSourceNodeDef } from "./image-source-def";

const TYPE = "defect-image-source";
/**
 * By default a watched folder waits for the detectors rather than dropping files, and lets at most
 * 8 images be unfinished: preprocess and the detector downstream each hold 8 waiting + 1 running
 * by default, so a folder burst never overflows them (with 16, and inspections on worker threads,
 * a 12-file burst lost a part at the detector).
 */
const QUEUE_DEFAULTS: QueueOptions = { size: 8, policy: "block" };

function topicOf(image: SourceImage): string | undefined {
  return image.path !== undefined ? basename(image.path) : image.url;
}

export = function register(RED: NodeAPI): void {
  function ImageSourceNode(this: Node<ImageSourceCredentials>, config: ImageSourceNodeDef): void {
    RED.nodes.createNode(this, config);
    const node = this;
    const status = createStatus(node, TYPE, COMMON_STATES, (key) => RED._(key));
    const errors = createErrorRouter(RED, node, TYPE, status);
    let options: SourceOptions;
    let limits: DecodeLimits;
    let queueOptions: QueueOptions;
    try {
      options = parseSourceOptions({ ...config });
      limits = parseDecodeLimits(config.maxPixels, svgAllowed(RED));
      queueOptions = parseQueueOptions(config, QUEUE_DEFAULTS);
    } catch (error) {
      rejectInput(node, errors.config(error));
      return;
    }
    const baseDir = baseDirectory(RED);
    const folder = resolveSourcePath(options.folder, baseDir);
    const root = options.root === "" ? undefined : resolveSourcePath(options.root, baseDir);
    const idleState = options.mode === "folder" ? "watching" : "ready";
    // Aborting this cancels every download still running when the node stops.
    const stop = new AbortController();
    let watching: Promise<FolderWatch | undefined> = Promise.resolve(undefined);

    const emitted = (msg: NodeMessage, image: SourceImage): NodeMessage => {
      setMessageImage(msg, image, topicOf(image));
      status.set(idleState);
      return msg;
    };

    /** The path or URL: typed in the node, or read from the message property the editor names. */
    function fromMessage(msg: NodeMessageInFlow, option: "path" | "url", fallbacks: readonly unknown[]): string {
      const type = option === "path" ? options.pathType : options.urlType;
      const property = type === "msg" ? options[option] : option === "path" ? "filename" : "url";
      const value =
        type === "msg" ? stringProperty(messageProperty(RED, msg, property)) : options[option] || fallbacks.map(stringProperty).find((v) => v !== undefined);
      if (value === undefined) {
        throw new DefectError("missingSource", `No ${option}: set it in the node or send msg.${property}`, { option, property });
      }
      return value;
    }

    async function acquire(msg: NodeMessageInFlow): Promise<SourceImage> {
      switch (options.mode) {
        case "file": {
          const path = fromMessage(msg, "path", [msg["filename"], msg.payload]);
          // With an allowed folder, relative paths start there and nothing outside it is read.
          if (root !== undefined) return loadImageFileWithin(root, path, limits, "file", options.maxBytes);
          return loadImageFile(resolveSourcePath(path, baseDir), limits, "file", options.maxBytes);
        }
        case "url": {
          const url = fromMessage(msg, "url", [msg["url"]]);
          status.set("busy");
          const { user, password } = node.credentials ?? {};
          const auth = user || password ? { user: user ?? "", password: password ?? "" } : undefined;
          // The camera's password goes to the URL the node was configured with, or for a URL a
          // message chose, only to the allowed hosts: never to wherever a dashboard or HTTP request points.
          const configured = options.urlType === "str" && options.url !== "";
          const request = {
            url,
            timeoutMs: options.timeoutMs,
            maxBytes: options.maxBytes,
            auth,
            signal: stop.signal,
            allowedHosts: options.allowedHosts,
            ...(configured ? {} : { credentialsFor: options.allowedHosts }),
          };
          // Each failed attempt is a warning; only the last one fails the message (and turns the status red).
          return withRetries(
            () => loadImageUrl(request, limits),
            { retries: options.retries, delayMs: options.retryDelayMs },
            {
              signal: stop.signal,
              onRetry: ({ error, attempt, attempts, delayMs }) =>
                node.warn(RED._(`${TYPE}.warnings.retrying`, { attempt, attempts, delayMs, reason: translateError(RED, TYPE, error).message })),
            },
          );
        }
        default:
          return loadImageBytes(msg.payload, limits, "msg.payload");
      }
    }

    /** One message per file, sorted by name; a bad file is reported and the rest still go out. */
    async function emitFolder(msg: NodeMessageInFlow, send: SendFunction): Promise<void> {
      const files = await listFolderFiles(folder, options.match);
      // Each file's message is a copy of the trigger as it came in: the first one sent gets its
      // file's name as topic, which the later ones must not inherit.
      const trigger = RED.util.cloneMessage(msg);
      for (const [index, file] of files.entries()) {
        const fileMsg = index === 0 ? msg : RED.util.cloneMessage(trigger);
        if (index > 0) fileMsg._msgid = RED.util.generateId();
        try {
          // Under "block", each file waits until the detectors downstream have room.
          await queue.room();
          if (stop.signal.aborted) return;
          // Timed from here: the wait for room is the line's, not the reading's.
          const started = performance.now();
          const image = await loadImageFileWithin(folder, file, limits, "folder", options.maxBytes);
          addTiming(fileMsg, "sourceMs", performance.now() - started);
          send(emitted(fileMsg, image));
          queue.sent(fileMsg);
        } catch (error) {
          errors.report(error, { ...fileMsg, filename: file });
        }
      }
      if ((await watching) === undefined && !stop.signal.aborted) startWatching();
    }

    /** Watched files are read one after another, in the order they arrived (see image-source-queue). */
    async function emitWatchedFile(path: string): Promise<void> {
      const msg: NodeMessage = { _msgid: RED.util.generateId(), filename: path };
      try {
        await queue.room();
        if (stop.signal.aborted) return;
        const started = performance.now();
        // A symbolic link in the watched folder may not lead out of it.
        const image = await loadImageFileWithin(folder, path, limits, "folder", options.maxBytes);
        if (stop.signal.aborted) return;
        addTiming(msg, "sourceMs", performance.now() - started);
        writeQueueInfo(msg, queue.info());
        node.send(emitted(msg, image));
        queue.sent(msg);
      } catch (error) {
        if (!stop.signal.aborted) errors.report(error, msg);
      }
    }

    function startWatching(): void {
      status.set("loading");
      watching = watchFolder(folder, {
        match: options.match,
        emitExisting: options.emitExisting,
        stableMs: options.stableMs,
        onFile: (path) => queue.file(path),
        onError: (error) => errors.report(error, { _msgid: RED.util.generateId(), topic: folder }),
      }).then(
        async (watch) => {
          if (stop.signal.aborted) {
            await watch.close();
            return undefined;
          }
          status.set("watching");
          return watch;
        },
        (error: unknown) => {
          if (!stop.signal.aborted) errors.report(error, { _msgid: RED.util.generateId(), topic: folder });
          return undefined;
        },
      );
    }

    const queue = createSourceQueue(RED, node, {
      type: TYPE,
      queue: queueOptions,
      errors,
      status,
      signal: stop.signal,
      emitFile: emitWatchedFile,
      handler: async (msg, send) => {
        if (options.mode === "folder") return emitFolder(msg, send);
        const started = performance.now();
        const image = await acquire(msg);
        addTiming(msg, "sourceMs", performance.now() - started);
        send(emitted(msg, image));
      },
    });

    if (options.mode === "folder") startWatching();
    else status.set("ready");

    node.on("close", (removed: boolean, done: () => void) => {
      stop.abort();
      watching
        .then((watch) => watch?.close())
        .catch((error: unknown) => node.warn(translateError(RED, TYPE, error).message))
        .finally(() => {
          if (removed) status.clear();
          done();
        });
    });
  }

  // The dialog checks Path and Folder with it.
  registerFileCheck(RED);
  RED.nodes.registerType<Node<ImageSourceCredentials>, ImageSourceNodeDef, object, ImageSourceCredentials>(TYPE, ImageSourceNode, {
    credentials: { user: { type: "text" }, password: { type: "password" } },
  });
};
