#!/bin/sh
# One-shot set-up of MinIO, run by the minio-init service on every `docker compose up`:
# - the buckets for clips, frames and model copies, private (no anonymous access) and versioned,
#   so that an overwritten or deleted object can be restored;
# - the application's user, S3_ACCESS_KEY_ID, limited by the policy "spine-app" to reading the
#   clips bucket and reading and writing the frames bucket. Only the root user touches models.
# MC_HOST_spine (set by compose) points mc at the server with the root credentials.
set -eu

for bucket in "$S3_CLIPS_BUCKET" "$S3_FRAMES_BUCKET" "$S3_MODELS_BUCKET"; do
    mc mb --ignore-existing "spine/$bucket"
    mc version enable "spine/$bucket"
    mc anonymous set none "spine/$bucket"
done

policy_file="$(mktemp)"
cat > "$policy_file" <<EOF
{
  "Version": "2012-10-17",
  "Statement": [
    {
      "Effect": "Allow",
      "Action": ["s3:ListBucket", "s3:GetBucketLocation"],
      "Resource": ["arn:aws:s3:::$S3_CLIPS_BUCKET", "arn:aws:s3:::$S3_FRAMES_BUCKET"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject"],
      "Resource": ["arn:aws:s3:::$S3_CLIPS_BUCKET/*"]
    },
    {
      "Effect": "Allow",
      "Action": ["s3:GetObject", "s3:PutObject"],
      "Resource": ["arn:aws:s3:::$S3_FRAMES_BUCKET/*"]
    }
  ]
}
EOF
mc admin policy create spine spine-app "$policy_file"
rm -f "$policy_file"

# Adding an existing user sets its secret again, so a changed S3_SECRET_ACCESS_KEY takes effect.
mc admin user add spine "$S3_ACCESS_KEY_ID" "$S3_SECRET_ACCESS_KEY"
# Attaching fails when the policy is already attached; the read-back below is the real check.
mc admin policy attach spine spine-app --user "$S3_ACCESS_KEY_ID" > /dev/null 2>&1 || true
user_info="$(mc admin user info spine "$S3_ACCESS_KEY_ID" --json)"
case "$user_info" in
    *'"spine-app"'*) ;;
    *)
        echo "minio-init: policy spine-app is not attached to the application's user" >&2
        exit 1
        ;;
esac

echo "minio-init: buckets $S3_CLIPS_BUCKET, $S3_FRAMES_BUCKET, $S3_MODELS_BUCKET private and versioned"
