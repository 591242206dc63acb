/**
 * The station's OPC 40100 VisionSystem in a node-opcua address space: an instance of the
 * MachineVision nodeset's VisionSystemType with its state machines, recipe and result management,
 * each method bound to the station core, and ResultReady events for every filed result. Only the
 * mandatory parts and those this station implements are instantiated (OPC 40100-1 makes recipe
 * and result management and the automatic mode optional; configuration and safety management are
 * left out).
 */
import type { AddressSpace, INamespace, UAMethod, UAObject, UAObjectType, UAStateMachineEx, UATransitionEx, UAVariable } from "node-opcua";
import type { CallMethodResultOptions, ISessionContext, StatusCode, Variant, VariantOptions } from "node-opcua";
import { isRecord } from "../../message";
import { RESULT_COMPLETED } from "../result-store";
import { visionResult, type VisionResult } from "../result-fields";
import type { Station } from "../station";
import type { MachineState, MethodStatus } from "../types";
import type { NodeOpcua } from "./load";

export const MACHINE_VISION_URI = "http://opcfoundation.org/UA/MachineVision";
export const VISION_SYSTEM_NAME = "VisionSystem";

/** What the station instantiates beyond VisionSystemType's mandatory VisionStateMachine. */
const OPTIONALS = [
  "RecipeManagement",
  "ResultManagement",
  "SystemState",
  "VisionStateMachine.SelectModeAutomatic",
  "VisionStateMachine.AutomaticModeStateMachine",
];

/** SystemState (SEMI E10 via SystemStateDataType): 1 production, 2 standby, 4 scheduled downtime, 5 unscheduled downtime. */
const SYSTEM_STATES: Record<MachineState["state"], number> = { Operational: 1, Preoperational: 2, Halted: 4, Error: 5 };

export interface VisionSystem {
  readonly object: UAObject;
  /** Shows the station's state in VisionStateMachine and AutomaticModeStateMachine. */
  showState(state: MachineState): void;
  /** Raises a ResultReadyEvent on the VisionSystem. */
  publishResult(result: VisionResult): void;
}

/** An extension object field such as RecipeIdExternalDataType.Id: "" when the client sent none. */
function idOf(variant: Variant | undefined): string {
  const value: unknown = variant?.value;
  if (!isRecord(value)) return "";
  const id = value["id"];
  return typeof id === "string" ? id.trim() : "";
}

function numberOf(variant: Variant | undefined): number {
  const value: unknown = variant?.value;
  return typeof value === "number" && Number.isFinite(value) ? value : 0;
}

function requireNode<T>(node: T | null | undefined, what: string): T {
  if (node === null || node === undefined) throw new Error(`the MachineVision nodeset has no ${what}`);
  return node;
}

export function createVisionSystem(opcua: NodeOpcua, addressSpace: AddressSpace, station: Station): VisionSystem {
  const { DataType, StatusCodes } = opcua;
  const mv: INamespace = requireNode(addressSpace.getNamespace(MACHINE_VISION_URI), `namespace ${MACHINE_VISION_URI}`);
  const visionSystemType: UAObjectType = requireNode(mv.findObjectType("VisionSystemType"), "VisionSystemType");
  const resultReadyType: UAObjectType = requireNode(mv.findObjectType("ResultReadyEventType"), "ResultReadyEventType");
  const objectsFolder = requireNode(addressSpace.rootFolder.objects, "Objects folder");
  const object = visionSystemType.instantiate({
    // In the server's own namespace: the instance is this station's, its type the specification's.
    browseName: { name: VISION_SYSTEM_NAME, namespaceIndex: addressSpace.getOwnNamespace().index },
    organizedBy: objectsFolder,
    optionals: OPTIONALS,
    eventSourceOf: objectsFolder,
  });

  const component = (parent: UAObject, name: string): UAObject => requireNode(parent.getComponentByName(name, mv.index) as UAObject | null, name);
  const methodOf = (parent: UAObject, name: string): UAMethod => requireNode(parent.getMethodByName(name, mv.index), `method ${name}`);
  const visionStateMachine = component(object, "VisionStateMachine");
  const automaticMode = component(visionStateMachine, "AutomaticModeStateMachine");
  const recipeManagement = component(object, "RecipeManagement");
  const resultManagement = component(object, "ResultManagement");
  const mainMachine: UAStateMachineEx = opcua.promoteToStateMachine(visionStateMachine);
  const autoMachine: UAStateMachineEx = opcua.promoteToStateMachine(automaticMode);

  const dataType = (name: string) => requireNode(mv.findDataType(name), `data type ${name}`);
  const idType = (type: string, id: string | null): Variant =>
    new opcua.Variant({ dataType: DataType.ExtensionObject, value: addressSpace.constructExtensionObject(dataType(type), { id: id ?? "" }) });
  const variant = (options: VariantOptions): Variant => new opcua.Variant(options);

  /** Method calls name the transition; the automatic ones (a result ending a single job) the *Auto one. */
  const preferTransition = (automatic: boolean) => (transitions: UATransitionEx[]) =>
    transitions.find((t) => t.browseName.name?.endsWith("Auto") === automatic) ?? transitions[0] ?? null;
  let automaticChange = false;

  const systemState = object.getComponentByName("SystemState", mv.index) as UAVariable | null;
  function showSystemState(state: MachineState): void {
    if (systemState === null) return;
    const value = addressSpace.constructExtensionObject(dataType("SystemStateDescriptionDataType"), {
      state: SYSTEM_STATES[state.state],
      stateDescription: state.automatic === null ? state.state : `${state.state} (${state.automatic})`,
    });
    systemState.setValueFromSource({ dataType: DataType.ExtensionObject, value });
  }

  function showState(state: MachineState): void {
    showSystemState(state);
    const pick = preferTransition(automaticChange);
    if (mainMachine.getCurrentState() !== `${mv.index}:${state.state}`) mainMachine.setState(state.state, pick);
    if (state.automatic === null) autoMachine.setState(null);
    else if (autoMachine.getCurrentState() !== `${mv.index}:${state.automatic}`) autoMachine.setState(state.automatic, pick);
  }

  /** Every method answers Error = 0 when Good (its Int32 output); Bad statuses carry no outputs. */
  function bind(parent: UAObject, name: string, call: (args: Variant[]) => { status: MethodStatus; outputs?: VariantOptions[] }): void {
    // Two parameters: node-opcua tells a promise-returning method from a callback one by its arity.
    methodOf(parent, name).bindMethod(async (inputArguments: Variant[], _context: ISessionContext): Promise<CallMethodResultOptions> => {
      const { status, outputs = [] } = call(inputArguments);
      const statusCode: StatusCode = StatusCodes[status];
      if (status !== "Good") return { statusCode };
      return { statusCode, outputArguments: [...outputs, { dataType: DataType.Int32, value: 0 }] };
    });
  }

  bind(visionStateMachine, "SelectModeAutomatic", () => ({ status: station.selectModeAutomatic() }));
  bind(visionStateMachine, "Halt", () => ({ status: station.halt() }));
  bind(visionStateMachine, "Reset", () => ({ status: station.reset() }));

  const startJob = (start: Station["startSingleJob"]) => (args: Variant[]) => {
    // StartSingleJob / StartContinuous (MeasId, PartId, RecipeId, ProductId, Parameters) -> (JobId, Error)
    const { status, jobId } = start({ partId: idOf(args[1]), recipe: idOf(args[2]) || idOf(args[3]) });
    return { status, outputs: [idType("JobIdDataType", jobId)] };
  };
  bind(automaticMode, "StartSingleJob", startJob(station.startSingleJob));
  bind(automaticMode, "StartContinuous", startJob(station.startContinuous));
  bind(automaticMode, "Stop", () => ({ status: station.stop() }));
  bind(automaticMode, "Abort", () => ({ status: station.abort() }));

  bind(recipeManagement, "GetRecipeListFiltered", (args) => {
    // (ExternalId, ProductId, IsPrepared, MaxResults, StartIndex, Timeout) -> (IsComplete, ResultCount, RecipeHandle, RecipeList, Error)
    const isPrepared = numberOf(args[2]);
    const page = station.listRecipes({
      externalId: idOf(args[0]),
      productId: idOf(args[1]),
      // TriStateBooleanDataType: 0 false, 1 true, 2 don't care.
      prepared: isPrepared === 0 ? false : isPrepared === 1 ? true : null,
      maxResults: numberOf(args[3]),
      startIndex: numberOf(args[4]),
    });
    return {
      status: "Good",
      outputs: [
        { dataType: DataType.Boolean, value: page.complete },
        { dataType: DataType.UInt32, value: page.total },
        { dataType: DataType.UInt32, value: 0 },
        {
          dataType: DataType.ExtensionObject,
          arrayType: opcua.VariantArrayType.Array,
          value: page.items.map((recipe) => addressSpace.constructExtensionObject(dataType("RecipeIdInternalDataType"), { id: recipe })),
        },
      ],
    };
  });
  // PrepareRecipe / UnprepareRecipe (ExternalId, InternalIdIn) -> (InternalIdOut, [IsCompleted,] Error); the internal id is the recipe itself.
  bind(recipeManagement, "PrepareRecipe", (args) => {
    const recipe = idOf(args[0]) || idOf(args[1]);
    const status = station.prepareRecipe(recipe);
    return { status, outputs: [idType("RecipeIdInternalDataType", recipe), { dataType: DataType.Boolean, value: true }] };
  });
  bind(recipeManagement, "UnprepareRecipe", (args) => {
    const recipe = idOf(args[0]) || idOf(args[1]);
    return { status: station.unprepareRecipe(recipe), outputs: [idType("RecipeIdInternalDataType", recipe)] };
  });

  function resultData(result: VisionResult) {
    return addressSpace.constructExtensionObject(dataType("ResultDataType"), {
      resultId: { id: result.resultId },
      isPartial: false,
      resultState: RESULT_COMPLETED,
      partId: result.partId === null ? undefined : { id: result.partId },
      externalRecipeId: result.recipe === null ? undefined : { id: result.recipe },
      internalRecipeId: { id: result.recipe ?? "" },
      productId: result.recipe === null ? undefined : { id: result.recipe },
      internalConfigurationId: { id: "" },
      jobId: { id: result.jobId },
      creationTime: result.creationTime,
      processingTimes: {
        startTime: result.processingTimes.startTime,
        endTime: result.processingTimes.endTime,
        processingDuration: result.processingTimes.processingDuration,
      },
      resultContent: [{ dataType: DataType.String, value: result.content }],
    });
  }

  bind(resultManagement, "GetResultById", (args) => {
    // (ResultId, Timeout) -> (ResultHandle, Result, Error)
    const stored = station.findResult(idOf(args[0]));
    if (stored === undefined) return { status: "BadNotFound" };
    return {
      status: "Good",
      outputs: [
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.ExtensionObject, value: resultData(visionResult(stored)) },
      ],
    };
  });
  bind(resultManagement, "GetResultComponentsById", (args) => {
    // -> (HasTransferableDataOnFile, ResultHandle, IsPartial, IsSimulated, ResultState, MeasId, PartId, ExternalRecipeId,
    //     InternalRecipeId, ProductId, ExternalConfigurationId, InternalConfigurationId, JobId, CreationTime, ProcessingTimes, ResultContent, Error)
    const stored = station.findResult(idOf(args[0]));
    if (stored === undefined) return { status: "BadNotFound" };
    const result = visionResult(stored);
    return {
      status: "Good",
      outputs: [
        { dataType: DataType.Boolean, value: false },
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.Boolean, value: false },
        { dataType: DataType.Boolean, value: false },
        { dataType: DataType.Int32, value: RESULT_COMPLETED },
        idType("MeasIdDataType", ""),
        idType("PartIdDataType", result.partId),
        idType("RecipeIdExternalDataType", result.recipe),
        idType("RecipeIdInternalDataType", result.recipe),
        idType("ProductIdDataType", result.recipe),
        idType("ConfigurationIdDataType", ""),
        idType("ConfigurationIdDataType", ""),
        idType("JobIdDataType", result.jobId),
        { dataType: DataType.DateTime, value: result.creationTime },
        {
          dataType: DataType.ExtensionObject,
          value: addressSpace.constructExtensionObject(dataType("ProcessingTimesDataType"), { ...result.processingTimes }),
        },
        { dataType: DataType.String, arrayType: opcua.VariantArrayType.Array, value: [result.content] },
      ],
    };
  });
  bind(resultManagement, "GetResultListFiltered", (args) => {
    // (ResultState, MeasId, PartId, ExternalRecipeId, InternalRecipeId, ExternalConfigurationId, InternalConfigurationId,
    //  ProductId, JobId, MaxResults, StartIndex, Timeout) -> (IsComplete, ResultCount, ResultHandle, ResultList, Error)
    const page = station.listResults({
      resultState: numberOf(args[0]),
      partId: idOf(args[2]),
      recipe: idOf(args[3]) || idOf(args[4]) || idOf(args[7]),
      jobId: idOf(args[8]),
      maxResults: numberOf(args[9]),
      startIndex: numberOf(args[10]),
    });
    return {
      status: "Good",
      outputs: [
        { dataType: DataType.Boolean, value: page.complete },
        { dataType: DataType.UInt32, value: page.total },
        { dataType: DataType.UInt32, value: 0 },
        { dataType: DataType.ExtensionObject, arrayType: opcua.VariantArrayType.Array, value: page.items.map((stored) => resultData(visionResult(stored))) },
      ],
    };
  });

  function publishResult(result: VisionResult): void {
    object.raiseEvent(resultReadyType, {
      resultId: idType("ResultIdDataType", result.resultId),
      isPartial: variant({ dataType: DataType.Boolean, value: false }),
      isSimulated: variant({ dataType: DataType.Boolean, value: false }),
      resultState: variant({ dataType: DataType.Int32, value: RESULT_COMPLETED }),
      partId: idType("PartIdDataType", result.partId),
      externalRecipeId: idType("RecipeIdExternalDataType", result.recipe),
      internalRecipeId: idType("RecipeIdInternalDataType", result.recipe),
      productId: idType("ProductIdDataType", result.recipe),
      internalConfigurationId: idType("ConfigurationIdDataType", ""),
      jobId: idType("JobIdDataType", result.jobId),
      creationTime: variant({ dataType: DataType.DateTime, value: result.creationTime }),
      processingTimes: variant({
        dataType: DataType.ExtensionObject,
        value: addressSpace.constructExtensionObject(dataType("ProcessingTimesDataType"), { ...result.processingTimes }),
      }),
      resultContent: variant({ dataType: DataType.String, arrayType: opcua.VariantArrayType.Array, value: [result.content] }),
      message: { dataType: DataType.LocalizedText, value: { text: `Result ${result.resultId}` } },
      severity: variant({ dataType: DataType.UInt16, value: 100 }),
    });
  }

  return {
    object,
    showState(state) {
      showState(state);
    },
    publishResult,
  };
}
