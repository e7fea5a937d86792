// AMPS-Inf stages for dense ONNX models: the calibration's data (calibration.ts), the stage model
// (model.ts) with its AWS constants (constants.ts), the stage/memory program solved with HiGHS over
// batch sizes (program.ts) and the dynamic program that cross-checks it (dp.ts), the baselines
// (baselines.ts), and the contract and report built from the chosen stages (build.ts).

export * from './baselines.ts';
export * from './build.ts';
export * from './calibration.ts';
export * from './constants.ts';
export * from './dp.ts';
export * from './model.ts';
export * from './program.ts';
