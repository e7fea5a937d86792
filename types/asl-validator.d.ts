// asl-validator 4 ships no type declarations: the part of its API the tests use
// (node_modules/asl-validator/dist/src/validator.js). It adds QueryLanguage to the states of the
// definition it is given: pass it a copy.
declare module 'asl-validator' {
  interface AslValidationError {
    readonly 'Error code': string;
    readonly Message: string;
  }
  interface AslValidationResult {
    readonly isValid: boolean;
    readonly errors: readonly AslValidationError[];
    errorsText(separator?: string): string;
  }
  function validator(definition: object, options?: { readonly checkPaths?: boolean; readonly checkArn?: boolean }): AslValidationResult;
  export = validator;
}
