// The S3 buckets of a plan (plan.json names.bucket for shards, inputs and results; names.
// exchangeBuckets for the object channel) as one list: objectResourceList (planner/plan/resources.ts,
// pure, so infra deploys the same list) says what exists, createObjectResources creates it through
// the S3 client it is given (fauxqs in tests). Every setting comes from the plan; nothing here chooses a value.
//
// AWS facts used:
// - CreateBucket outside us-east-1 needs CreateBucketConfiguration.LocationConstraint; creating a
//   bucket one already owns answers BucketAlreadyOwnedByYou (us-east-1: 200), a name taken by
//   another account BucketAlreadyExists (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CreateBucket.html).
// - A lifecycle rule with Expiration { Days } removes objects that many days after they were
//   written (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutBucketLifecycleConfiguration.html):
//   on the exchange buckets it removes what a failed run left behind; removeRunObjects
//   (object-channel.ts) removes a finished run's objects at once.

import { CreateBucketCommand, PutBucketLifecycleConfigurationCommand, type BucketLocationConstraint, type S3Client } from '@aws-sdk/client-s3';
import { StepinferError } from '../../model/errors.ts';
import { EXCHANGE_EXPIRATION_RULE_ID, type ObjectResourceList } from '../../planner/plan/resources.ts';

export { EXCHANGE_EXPIRATION_RULE_ID, objectResourceList, type ObjectBucket, type ObjectResourceList, type ObjectSettings } from '../../planner/plan/resources.ts';

export interface ObjectResources {
  readonly buckets: string[];
}

/** Creates the list's buckets; a bucket this account already owns is kept as it is (idempotent). */
export async function createObjectResources(list: ObjectResourceList, s3: S3Client): Promise<ObjectResources> {
  const region = await s3.config.region();
  const created: string[] = [];
  for (const bucket of list.buckets) {
    try {
      await s3.send(new CreateBucketCommand({
        Bucket: bucket.name,
        ...(region === 'us-east-1' ? {} : { CreateBucketConfiguration: { LocationConstraint: region as BucketLocationConstraint } }),
      }));
    } catch (error) {
      if ((error as Error).name !== 'BucketAlreadyOwnedByYou') {
        throw new StepinferError(`creating S3 bucket ${bucket.name} failed: ${(error as Error).name}: ${(error as Error).message}`);
      }
    }
    if (bucket.expirationDays !== null) {
      await s3.send(new PutBucketLifecycleConfigurationCommand({
        Bucket: bucket.name,
        LifecycleConfiguration: { Rules: [{ ID: EXCHANGE_EXPIRATION_RULE_ID, Status: 'Enabled', Filter: { Prefix: '' }, Expiration: { Days: bucket.expirationDays } }] },
      }));
    }
    created.push(bucket.name);
  }
  return { buckets: created };
}
